//! Compiled L7 matchers: host, path, method and SNI patterns with `*` wildcards, compiled
//! once per policy snapshot so matching stays nearly flat in the number of rules.
