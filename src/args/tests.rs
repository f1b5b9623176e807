use std::time::Duration;

use super::*;

#[test]
fn marks_are_hex_or_decimal_and_never_zero() {
    assert_eq!("0x539".parse::<Mark>(), Ok(PROXY_MARK));
    assert_eq!("1337".parse::<Mark>(), Ok(PROXY_MARK));
    assert_eq!(" 0X2a ".parse::<Mark>().map(Mark::get), Ok(42));
    assert_eq!("0".parse::<Mark>(), Err(Error::ZeroMark));
    assert_eq!("0x0".parse::<Mark>(), Err(Error::ZeroMark));
    assert!(matches!("0xzz".parse::<Mark>(), Err(Error::Mark(_))));
    assert!(matches!("-1".parse::<Mark>(), Err(Error::Mark(_))));
    assert!(Error::ZeroMark.to_string().contains("captured again"));
    assert_eq!(PROXY_MARK.to_string(), "0x539");
}

#[test]
fn pods_are_namespace_and_name() {
    let pod: PodRef = "default/web".parse().unwrap();
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("default", "web")
    );
    assert_eq!(pod.to_string(), "default/web");
    for bad in ["web", "a/b/c", "/web", "default/", ""] {
        assert_eq!(
            bad.parse::<PodRef>(),
            Err(Error::Pod(bad.to_owned())),
            "{bad}"
        );
    }
    assert_eq!(PodRef::or_from_env(Some(pod.clone())), Ok(pod));
}

#[test]
fn durations_and_ranges() {
    assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
    assert!(parse_duration("5x").is_err());
    assert!(parse_duration("s").is_err());
    assert_eq!(parse_port_range("61000-65535"), Ok(61000..=65535));
    assert!(parse_port_range("9-1").is_err());
    assert!(parse_port_range("0-5").is_err());
    assert!(parse_port_range("80").is_err());
}

/// `run`, `redirect` and `controller` read `--mark` alike: 0 is refused by all three.
#[test]
fn every_command_refuses_mark_zero() {
    use clap::Parser as _;
    let commands: [&[&str]; 3] = [
        &["run", "--manifests=/dev/null"],
        &["redirect", "render"],
        &["controller", "--tls-cert-file=c", "--tls-key-file=k"],
    ];
    for command in commands {
        let parse = |mark: &str| {
            let argv = ["l7proxy"].iter().chain(command).copied();
            crate::cli::Cli::try_parse_from(argv.chain([mark]))
        };
        assert!(parse("--mark=0x539").is_ok(), "{command:?}");
        let err = parse("--mark=0").unwrap_err().to_string();
        assert!(err.contains("mark 0 means unmarked"), "{command:?}: {err}");
    }
}
