//! Matching expected event fields against the proxy's EVE lines. A case names a few fields by
//! dotted path (`alert.action`, `http.url`); values compare as text so YAML `200` matches
//! JSON `200`, and a leading `~` asks for a substring (`~allow-privileged-url`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// The value at a dotted path (`flow.src_ip`), if any.
pub fn field<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(event, |v, key| v.get(key))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn yaml_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => "null".into(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Does `event` carry every expected field?
pub fn matches(event: &Value, expected: &BTreeMap<String, serde_yaml::Value>) -> bool {
    expected.iter().all(|(path, want)| {
        let Some(got) = field(event, path) else {
            return false;
        };
        let (got, want) = (text(got), yaml_text(want));
        match want.strip_prefix('~') {
            Some(sub) => got.contains(sub),
            None => got == want,
        }
    })
}

/// Is `event` about a flow from `src` to `dst:port`? IPs compare parsed, so any textual
/// form of an IPv6 address matches.
pub fn is_flow(event: &Value, src: IpAddr, dst: IpAddr, port: u16) -> bool {
    let ip = |k: &str| {
        field(event, k)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpAddr>().ok())
    };
    ip("src_ip") == Some(src)
        && ip("dest_ip") == Some(dst)
        && field(event, "dest_port").and_then(Value::as_u64) == Some(u64::from(port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_fields_numbers_and_substrings() {
        let ev: Value = serde_json::json!({
            "event_type": "alert", "src_ip": "fd77:0::21", "dest_ip": "fd77::10", "dest_port": 80,
            "alert": {"action": "blocked", "signature": "Reject by AntreaNetworkPolicy:default/p"},
            "http": {"status": 200}
        });
        let want: BTreeMap<String, serde_yaml::Value> = serde_yaml::from_str(
            "event_type: alert\nalert.action: blocked\nalert.signature: '~default/p'\nhttp.status: 200",
        )
        .unwrap();
        assert!(matches(&ev, &want));
        let wrong: BTreeMap<String, serde_yaml::Value> =
            serde_yaml::from_str("alert.action: allowed").unwrap();
        assert!(!matches(&ev, &wrong));
        let missing: BTreeMap<String, serde_yaml::Value> =
            serde_yaml::from_str("tls.sni: x").unwrap();
        assert!(!matches(&ev, &missing));
        assert!(is_flow(
            &ev,
            "fd77::21".parse().unwrap(),
            "fd77::10".parse().unwrap(),
            80
        ));
        assert!(!is_flow(
            &ev,
            "fd77::22".parse().unwrap(),
            "fd77::10".parse().unwrap(),
            80
        ));
    }
}
