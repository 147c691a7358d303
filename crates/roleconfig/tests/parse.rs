//! Bad YAML: line and column for syntax errors; path, field and line for
//! unknown fields; path and expected type for wrong types.

mod common;

use mk_roleconfig::{parse_document, parse_node_config, ParseError, ParseErrorKind};

const GOOD: &str = "\
apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: w1.example.com
spec:
  roles: [worker]
  cluster:
    name: lab
    domain: example.com
    apiEndpoint:
      dnsName: api.example.com
  planes:
    control:
      cidr: 10.0.0.0/24
  join:
    token: abcdef.0123456789abcdef
    caCertHashes: [\"sha256:7d2e6c1f0b4f1f5e8a9c3b2d1e0f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f\"]
";

fn parse_err(text: &str) -> ParseError {
    parse_document(text.as_bytes(), "node.yaml").unwrap_err()
}

#[test]
fn the_good_document_parses_with_defaults() {
    let c = parse_node_config(GOOD.as_bytes(), "node.yaml").unwrap();
    assert_eq!(c.spec.cluster.kubernetes_version, "1.30");
    assert_eq!(c.spec.cluster.api_endpoint.port, 6443);
    assert_eq!(c.spec.cluster.service_cidr, "10.96.0.0/12");
    assert_eq!(c.spec.selinux, mk_roleconfig::SelinuxMode::Enforcing);
    assert_eq!(c.spec.failure_policy, mk_roleconfig::FailurePolicy::Halt);
    mk_roleconfig::validate(&c, common::now()).unwrap();
}

#[test]
fn malformed_yaml_gives_line_and_column() {
    let text = GOOD.replace("  planes:\n", "  planes: [\n");
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::Syntax);
    // Where libyaml notices: the mapping inside the unclosed `[`.
    assert_eq!(
        e.to_string(),
        "node.yaml:14:11: did not find expected ',' or ']', while parsing a flow sequence"
    );
}

#[test]
fn tabs_are_not_yaml_indentation() {
    let text = GOOD.replace("    name: lab", "\tname: lab");
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::Syntax);
    assert_eq!(e.line, Some(8), "{e}");
}

#[test]
fn unknown_field_names_it_its_path_and_line() {
    let text = GOOD.replace("  roles: [worker]\n", "  roles: [worker]\n  role: worker\n");
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::UnknownField);
    assert_eq!(e.path.as_deref(), Some("spec.role"));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(
        e.message
            .starts_with("unknown field `role`, expected one of `dnsNames`, `roles`"),
        "{e}"
    );
    // Deep inside, too.
    let text = GOOD.replace(
        "      cidr: 10.0.0.0/24\n",
        "      cidr: 10.0.0.0/24\n      mtu: 9000\n",
    );
    let e = parse_err(&text);
    assert_eq!(e.path.as_deref(), Some("spec.planes.control.mtu"), "{e}");
    assert_eq!(e.line, Some(15), "{e}");
    assert_eq!(
        e.to_string(),
        "node.yaml:15:7: spec.planes.control.mtu: unknown field `mtu`, expected `cidr`"
    );
}

#[test]
fn wrong_type_gives_path_and_expected_type() {
    let text = GOOD.replace(
        "      dnsName: api.example.com\n",
        "      dnsName: api.example.com\n      port: https\n",
    );
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::WrongType, "{e}");
    assert_eq!(e.path.as_deref(), Some("spec.cluster.apiEndpoint.port"));
    assert_eq!(e.message, "invalid type: string \"https\", expected u16");
    assert_eq!(e.line, Some(12));

    let text = GOOD.replace("  roles: [worker]", "  roles: worker");
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::WrongType, "{e}");
    assert_eq!(e.path.as_deref(), Some("spec.roles"));
    assert!(e.message.contains("expected a sequence"), "{e}");
}

#[test]
fn invalid_enum_values_list_the_allowed_ones() {
    let text = GOOD.replace("  roles: [worker]", "  roles: [worker, master]");
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::InvalidValue, "{e}");
    assert_eq!(e.path.as_deref(), Some("spec.roles[1]"));
    assert_eq!(
        e.message,
        "unknown variant `master`, expected one of `bootstrap-control-plane`, `control-plane`, `worker`"
    );
    let text = GOOD.replace("  roles: [worker]", "  roles: [worker]\n  selinux: off");
    let e = parse_err(&text);
    assert_eq!(e.path.as_deref(), Some("spec.selinux"), "{e}");
}

#[test]
fn missing_fields_and_versions() {
    let text = GOOD.replace("    domain: example.com\n", "");
    let e = parse_err(&text);
    assert_eq!(e.kind, ParseErrorKind::MissingField, "{e}");
    assert_eq!(e.path.as_deref(), Some("spec.cluster"));
    assert_eq!(e.message, "missing field `domain`");

    let text = GOOD.replace("mk.dev/v1alpha1", "mk.dev/v1");
    let e = parse_err(&text);
    assert_eq!(e.path.as_deref(), Some("apiVersion"), "{e}");
    assert_eq!(
        e.message,
        "unknown variant `mk.dev/v1`, expected `mk.dev/v1alpha1`"
    );

    let e = parse_err(&GOOD.replace("kind: NodeConfig", "kind: Pod"));
    assert_eq!(
        e.to_string(),
        "node.yaml: kind: unknown kind `Pod`, expected `NodeConfig` or `NodeConfigList`"
    );
    let e = parse_err(&GOOD.replace("kind: NodeConfig\n", ""));
    assert_eq!(e.kind, ParseErrorKind::MissingField);
}

#[test]
fn not_a_mapping_and_empty_input() {
    let e = parse_err("- a\n- b\n");
    assert_eq!(
        e.to_string(),
        "node.yaml: expected a mapping with `apiVersion` and `kind` at the top, found a list"
    );
    let e = parse_err("");
    assert_eq!(e.kind, ParseErrorKind::Structure, "{e}");
    let e = parse_err("a: 1\n---\nb: 2\n");
    assert_eq!(e.kind, ParseErrorKind::Syntax, "{e}");
    assert!(e.message.contains("more than one document"), "{e}");
}

#[test]
fn duplicate_keys_are_errors() {
    let text = GOOD.replace(
        "  roles: [worker]\n",
        "  roles: [worker]\n  roles: [worker]\n",
    );
    let e = parse_err(&text);
    assert!(e.message.contains("duplicate"), "{e}");
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn a_list_is_not_a_single_config() {
    let text = std::fs::read(common::EXAMPLE_LIST).unwrap();
    let e = parse_node_config(&text, "list.yaml").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Structure);
}
