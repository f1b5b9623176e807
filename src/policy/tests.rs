//! The policy engine's tests, by subject: `explain` ([`cli`]), peers and selectors
//! ([`peers`]), Antrea's decision order ([`semantics`]), the spec's examples ([`spec`])
//! and validation messages ([`validation`]). Shared fixtures are in `test_support`.

mod cli;
mod peers;
mod semantics;
mod spec;
mod validation;
