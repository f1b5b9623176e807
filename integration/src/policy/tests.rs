use super::*;

#[test]
fn the_web_policy_is_one_manifest_with_the_rules_in_order() {
    let yaml = web_policy("p", &[HTTP_PUBLIC, DROP_OTHER], &[EGRESS_HTTP_PUBLIC]);
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(doc["metadata"]["name"], "p");
    assert_eq!(
        doc["spec"]["appliedTo"][0]["podSelector"]["matchLabels"]["app"],
        "web"
    );
    let names = |section: &str| -> Vec<String> {
        doc["spec"][section]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("ingress"), ["http-public", "drop-other"]);
    assert_eq!(names("egress"), ["egress-http-public"]);
    assert!(!web_policy("q", &[BULK_L4], &[]).contains("egress"));
}
