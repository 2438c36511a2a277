//! The Kubernetes manifests in `deploy/`, offline: every overlay renders with
//! `kubectl kustomize`, passes `kubernetes-validate --strict`, keeps the hardening and
//! certificate rules, and its NetworkPolicies allow exactly the planned flows
//! (`deploy/tests/netpol.py` computes them; the expected sets live here).
//!
//! Needs `kubectl` and `kubernetes-validate` (scripts/install-deps.sh installs both). Without
//! them each test says so and passes, unless PLANBOK_REQUIRE_KUBE=1 (CI), where it fails.
//! `PLANBOK_KUBECTL` picks another kubectl (e.g. Debian's 1.20, whose kustomize is 2.0.3).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The Kubernetes version the manifests are validated against: one whose schemas the pinned
/// kubernetes-validate bundles (1.25 to 1.37), the minor of the kubectl the repository
/// was written against.
const KUBE_VERSION: &str = "1.32.0";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

struct Kube {
    kubectl: String,
    dir: tempfile::TempDir,
}

impl Kube {
    /// The tools, or `None` (with a message) where they are missing and not required.
    fn find() -> Option<Kube> {
        let kubectl = std::env::var("PLANBOK_KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let runs = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let missing: Vec<&str> = [
            (!runs(&kubectl, &["version", "--client"])).then_some("kubectl"),
            (!runs("kubernetes-validate", &["--version"])).then_some("kubernetes-validate"),
            (!runs("python3", &["-c", "import yaml"])).then_some("python3 with PyYAML"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if missing.is_empty() {
            return Some(Kube {
                kubectl,
                dir: tempfile::tempdir().expect("temp dir"),
            });
        }
        if std::env::var("PLANBOK_REQUIRE_KUBE").is_ok_and(|v| v == "1") {
            panic!(
                "PLANBOK_REQUIRE_KUBE=1 but {} missing (scripts/install-deps.sh)",
                missing.join(", ")
            );
        }
        eprintln!(
            "skipping the deploy/ manifest test: {} missing (scripts/install-deps.sh installs them)",
            missing.join(", ")
        );
        None
    }

    /// `kubectl kustomize deploy/overlays/<overlay>`, written to a file.
    fn render(&self, overlay: &str) -> PathBuf {
        let out = Command::new(&self.kubectl)
            .arg("kustomize")
            .arg(deploy().join("overlays").join(overlay))
            .output()
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl kustomize {overlay} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = self
            .dir
            .path()
            .join(format!("{}.yaml", overlay.replace('/', "-")));
        std::fs::write(&path, &out.stdout).expect("write rendered manifests");
        path
    }

    /// `kubernetes-validate --strict`: `Ok` when it passes, else its report. Kinds it has no
    /// schema for are only warned about: they must be cert-manager's, which the facts test
    /// checks instead.
    fn validate(&self, path: &Path) -> Result<(), String> {
        let out = Command::new("kubernetes-validate")
            .args(["-k", KUBE_VERSION, "--strict", "--quiet"])
            .arg(path)
            .output()
            .expect("run kubernetes-validate");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(report);
        }
        for line in report.lines().filter(|l| !l.trim().is_empty()) {
            let cert_manager = line.starts_with("WARN ")
                && line.contains("Couldn't find schema for kind")
                && line.contains("with api version cert-manager.io/v1");
            assert!(
                cert_manager,
                "unexpected kubernetes-validate output: {line}"
            );
        }
        Ok(())
    }

    fn helper(&self, args: &[&str]) -> Value {
        let out = Command::new("python3")
            .arg(deploy().join("tests/netpol.py"))
            .args(args)
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "netpol.py {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("netpol.py prints JSON")
    }

    /// The allowed flows across `clusters` (name, rendered file) in `world`.
    fn flows(&self, world: &str, clusters: &[(&str, &Path)]) -> BTreeSet<String> {
        let world = deploy().join("tests").join(world);
        let mut args = vec![
            "flows".to_owned(),
            "--world".to_owned(),
            world.display().to_string(),
        ];
        args.extend(clusters.iter().map(|(c, p)| format!("{c}={}", p.display())));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.helper(&args)
            .as_array()
            .expect("a list")
            .iter()
            .map(|f| f.as_str().expect("a string").to_owned())
            .collect()
    }

    fn facts(&self, rendered: &Path) -> Value {
        self.helper(&["facts", &rendered.display().to_string()])
    }
}

fn set(flows: &[String]) -> BTreeSet<String> {
    flows.iter().cloned().collect()
}

/// DNS to kube-dns, which every pod of the planbok namespaces may use.
fn dns(cluster: &str, pods: &[&str]) -> Vec<String> {
    pods.iter()
        .flat_map(|p| {
            ["53/TCP", "53/UDP"]
                .map(|port| format!("{cluster}/{p} -> {cluster}/kube-system/kube-dns:{port}"))
        })
        .collect()
}

fn flow(from: &str, to: &str) -> String {
    format!("{from} -> {to}")
}

/// Asserts equality with the differences spelled out both ways.
fn assert_flows(actual: &BTreeSet<String>, expected: &BTreeSet<String>, what: &str) {
    let extra: Vec<_> = actual.difference(expected).collect();
    let missing: Vec<_> = expected.difference(actual).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: allowed but not planned: {extra:#?}\nplanned but not allowed: {missing:#?}"
    );
}

fn single_cluster_expected() -> BTreeSet<String> {
    let m = |s: &str| format!("main/{s}");
    let mut f = vec![
        flow(
            &m("ingress-nginx/controller"),
            &m("planbok-server/server:8080/TCP"),
        ),
        flow(
            &m("monitoring/prometheus"),
            &m("planbok-server/server:8080/TCP"),
        ),
        flow(
            &m("monitoring/prometheus"),
            &m("planbok-node1/node1:9102/TCP"),
        ),
        flow(
            &m("monitoring/prometheus"),
            &m("planbok-node2/node2:9102/TCP"),
        ),
        flow(
            &m("planbok-server/server"),
            &m("planbok-node1/node1:7101/TCP"),
        ),
        flow(
            &m("planbok-node1/node1"),
            &m("planbok-node2/node2:7102/TCP"),
        ),
        flow(
            &m("planbok-operator/operator"),
            &m("planbok-node1/node1:7101/TCP"),
        ),
        flow(
            &m("planbok-operator/operator"),
            &m("planbok-node2/node2:7102/TCP"),
        ),
        flow(
            &m("planbok-server/server"),
            "external/postgres-server:5432/TCP",
        ),
        flow(&m("planbok-server/server"), "external/redis:6379/TCP"),
        flow(&m("planbok-server/server"), "external/openbao:8200/TCP"),
        flow(
            &m("planbok-node1/node1"),
            "external/postgres-node1:5432/TCP",
        ),
        flow(&m("planbok-node1/node1"), "external/openbao:8200/TCP"),
        flow(
            &m("planbok-node2/node2"),
            "external/postgres-node2:5432/TCP",
        ),
        flow(&m("planbok-node2/node2"), "external/openbao-node2:8200/TCP"),
    ];
    f.extend(dns(
        "main",
        &[
            "planbok-server/server",
            "planbok-node1/node1",
            "planbok-node2/node2",
            "planbok-operator/operator",
            "planbok-server/stranger",
            "planbok-node1/stranger",
            "planbok-node2/stranger",
            "planbok-operator/stranger",
        ],
    ));
    set(&f)
}

/// Who reaches Node 2 in `flows`, whatever the port.
fn sources_reaching_node2(flows: &BTreeSet<String>) -> BTreeSet<String> {
    flows
        .iter()
        .filter_map(|f| f.split_once(" -> "))
        .filter_map(|(from, to)| {
            let (_, port) = to.split_once("/planbok-node2/")?;
            port.starts_with("node2:")
                .then(|| format!("{from} -> {port}"))
        })
        .collect()
}

#[test]
fn single_cluster_renders_validates_and_allows_exactly_the_planned_flows() {
    let Some(kube) = Kube::find() else { return };
    let rendered = kube.render("single-cluster");
    kube.validate(&rendered)
        .expect("kubernetes-validate --strict");
    let flows = kube.flows("world-single-cluster.json", &[("main", &rendered)]);
    assert_flows(&flows, &single_cluster_expected(), "single-cluster");
    // Spelled out: Node 1 on the gRPC port; operators on it too; monitoring on metrics only.
    // No stranger in Node 1's or Node 2's namespace, no impostor wearing Node 1's labels
    // elsewhere, not the server, not the ingress controller.
    assert_eq!(
        sources_reaching_node2(&flows),
        set(&[
            "main/planbok-node1/node1 -> node2:7102/TCP".into(),
            "main/planbok-operator/operator -> node2:7102/TCP".into(),
            "main/monitoring/prometheus -> node2:9102/TCP".into(),
        ])
    );
}

#[test]
fn multi_region_renders_validates_and_only_node1s_egress_address_reaches_node2() {
    let Some(kube) = Kube::find() else { return };
    let a = kube.render("multi-region/region-a");
    let b = kube.render("multi-region/region-b");
    kube.validate(&a)
        .expect("region-a: kubernetes-validate --strict");
    kube.validate(&b)
        .expect("region-b: kubernetes-validate --strict");
    let flows = kube.flows("world-multi-region.json", &[("a", &a), ("b", &b)]);
    let mut expected = vec![
        flow(
            "a/ingress-nginx/controller",
            "a/planbok-server/server:8080/TCP",
        ),
        flow(
            "a/monitoring/prometheus",
            "a/planbok-server/server:8080/TCP",
        ),
        flow("a/monitoring/prometheus", "a/planbok-node1/node1:9102/TCP"),
        flow("a/planbok-server/server", "a/planbok-node1/node1:7101/TCP"),
        flow(
            "a/planbok-operator/operator",
            "a/planbok-node1/node1:7101/TCP",
        ),
        flow(
            "a/planbok-server/server",
            "external/postgres-server:5432/TCP",
        ),
        flow("a/planbok-server/server", "external/redis:6379/TCP"),
        flow("a/planbok-server/server", "external/openbao:8200/TCP"),
        flow("a/planbok-node1/node1", "external/postgres-node1:5432/TCP"),
        flow("a/planbok-node1/node1", "external/openbao:8200/TCP"),
        // Across the regions: Node 1's egress address, to Node 2's load balancer.
        flow("a/planbok-node1/node1", "b/planbok-node2/node2:7102/TCP"),
        flow("b/monitoring/prometheus", "b/planbok-node2/node2:9102/TCP"),
        flow(
            "b/planbok-operator/operator",
            "b/planbok-node2/node2:7102/TCP",
        ),
        flow("b/planbok-node2/node2", "external/postgres-node2:5432/TCP"),
        flow("b/planbok-node2/node2", "external/openbao-node2:8200/TCP"),
    ];
    expected.extend(dns(
        "a",
        &[
            "planbok-server/server",
            "planbok-node1/node1",
            "planbok-operator/operator",
            "planbok-server/stranger",
            "planbok-node1/stranger",
            "planbok-operator/stranger",
        ],
    ));
    expected.extend(dns(
        "b",
        &[
            "planbok-node2/node2",
            "planbok-operator/operator",
            "planbok-node2/stranger",
            "planbok-operator/stranger",
        ],
    ));
    assert_flows(&flows, &set(&expected), "multi-region");
    // Region A's other pods leave from the cluster's shared address and the internet from
    // its own: neither gets in.
    assert_eq!(
        sources_reaching_node2(&flows),
        set(&[
            "a/planbok-node1/node1 -> node2:7102/TCP".into(),
            "b/planbok-operator/operator -> node2:7102/TCP".into(),
            "b/monitoring/prometheus -> node2:9102/TCP".into(),
        ])
    );
}

/// The negative control of the flow check: a deliberately broken copy of a policy, added
/// to the rendered single-cluster output, must change the matrix (so the check above cannot
/// pass vacuously).
#[test]
fn a_broken_copy_of_a_policy_breaks_the_flow_matrix() {
    let Some(kube) = Kube::find() else { return };
    let rendered = kube.render("single-cluster");
    let good = std::fs::read_to_string(&rendered).expect("read rendered");
    let broken = |name: &str, policy: &str| {
        let path = kube.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, format!("{good}---\n{policy}")).expect("write broken copy");
        kube.flows("world-single-cluster.json", &[("main", &path)])
    };

    // node2-from-node1 with its namespace selector widened to every namespace: the impostor
    // wearing Node 1's labels in `default` gets in.
    let widened = broken(
        "widened",
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: node2-from-node1-broken, namespace: planbok-node2}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: planbok-node2}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {app.kubernetes.io/name: planbok-node1}}
    ports: [{protocol: TCP, port: 7102}]
",
    );
    assert_ne!(widened, single_cluster_expected());
    assert!(
        widened.contains("main/default/impostor -> main/planbok-node2/node2:7102/TCP"),
        "{widened:#?}"
    );

    // The monitoring rule of node2-operations without its ports: the scraper reaches Node 2's
    // gRPC port, and a port nothing declares.
    let portless = broken(
        "portless",
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: node2-operations-broken, namespace: planbok-node2}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: planbok-node2}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
      podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}
",
    );
    assert_ne!(portless, single_cluster_expected());
    for port in ["7102", "9999"] {
        let f = format!("main/monitoring/prometheus -> main/planbok-node2/node2:{port}/TCP");
        assert!(portless.contains(&f), "{portless:#?}");
    }
}

/// The negative control of the validation: a field `--strict` does not know, and a port
/// of the wrong type, are refused.
#[test]
fn the_validator_refuses_unknown_fields_and_wrong_types() {
    let Some(kube) = Kube::find() else { return };
    let rendered = kube.render("single-cluster");
    let good = std::fs::read_to_string(&rendered).expect("read rendered");
    kube.validate(&rendered)
        .expect("the unchanged output passes");
    for (what, from, to) in [
        (
            "typo",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFileSystem: true",
        ),
        ("type", "containerPort: 8080", "containerPort: http"),
    ] {
        assert!(good.contains(from), "{from} not in the rendered output");
        let path = kube.dir.path().join(format!("invalid-{what}.yaml"));
        std::fs::write(&path, good.replacen(from, to, 1)).expect("write");
        let report = kube.validate(&path).expect_err(what);
        assert!(report.contains("ERROR"), "{what}: {report}");
    }
}

fn workloads(facts: &Value) -> &serde_json::Map<String, Value> {
    facts["workloads"].as_object().expect("workloads")
}

/// Hardening, probes, resources, namespaces, certificates, PDBs and the HPA in every
/// overlay: what the flow matrix does not see.
#[test]
fn every_overlay_is_hardened_and_its_certificates_carry_the_roles() {
    let Some(kube) = Kube::find() else { return };
    let mut seen_roles = BTreeSet::new();
    for overlay in [
        "single-cluster",
        "multi-region/region-a",
        "multi-region/region-b",
    ] {
        let facts = kube.facts(&kube.render(overlay));
        for (ns, labels) in facts["namespaces"].as_object().expect("namespaces") {
            assert_eq!(
                labels["pod-security.kubernetes.io/enforce"], "restricted",
                "{overlay}: namespace {ns}"
            );
        }
        let certs = facts["certificates"].as_object().expect("certificates");
        for (key, cert) in certs {
            let role = key.rsplit('/').next().expect("name");
            seen_roles.insert(role.to_owned());
            let ctx = format!("{overlay}: certificate {key}");
            assert_eq!(
                cert["uris"],
                serde_json::json!([format!("planbok://{role}")]),
                "{ctx}"
            );
            let dns: Vec<&str> = cert["dnsNames"]
                .as_array()
                .expect("dnsNames")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                dns.contains(&format!("{role}.planbok").as_str()),
                "{ctx}: {dns:?}"
            );
            let usages = cert["usages"].to_string();
            assert!(
                usages.contains("\"server auth\"") && usages.contains("\"client auth\""),
                "{ctx}"
            );
            assert_eq!(cert["isCA"], false, "{ctx}");
            assert_eq!(cert["issuer"], "ClusterIssuer/planbok-ca", "{ctx}");
        }
        assert!(!workloads(&facts).is_empty(), "{overlay}: no workloads");
        for (key, w) in workloads(&facts) {
            let ctx = format!("{overlay}: {key}");
            let (ns, name) = key.split_once('/').expect("ns/name");
            assert_eq!(w["automountServiceAccountToken"], false, "{ctx}");
            assert_eq!(w["hostNetwork"], false, "{ctx}");
            assert_eq!(w["runAsUser"], 65532, "{ctx}");
            for c in w["containers"].as_array().expect("containers") {
                assert_eq!(c["runAsNonRoot"], true, "{ctx}");
                assert_eq!(c["readOnlyRootFilesystem"], true, "{ctx}");
                assert_eq!(c["allowPrivilegeEscalation"], false, "{ctx}");
                assert_eq!(c["capabilitiesDrop"], serde_json::json!(["ALL"]), "{ctx}");
                assert_eq!(c["capabilitiesAdd"], serde_json::json!([]), "{ctx}");
                assert_eq!(c["seccomp"], "RuntimeDefault", "{ctx}");
                assert_eq!(
                    c["image"], "registry.planbok.example/planbok:0.1.0",
                    "{ctx}"
                );
                for probe in ["livenessProbe", "readinessProbe"] {
                    assert!(c["probes"][probe].is_object(), "{ctx}: no {probe}");
                }
                for kind in ["requests", "limits"] {
                    for r in ["cpu", "memory"] {
                        assert!(c["resources"][kind][r].is_string(), "{ctx}: no {kind}.{r}");
                    }
                }
                // The role certificate is mounted where the config reads it, and it is this
                // namespace's Certificate for this role.
                let tls_volume = c["mounts"]["/etc/planbok/tls"].as_str().expect("tls mount");
                let secret = &w["volumes"][tls_volume]["secret"];
                assert_eq!(
                    certs[&format!("{ns}/{name}")]["secretName"],
                    *secret,
                    "{ctx}"
                );
            }
            // Every workload has a disruption budget selecting it.
            let pdb = &facts["pdbs"][key.as_str()];
            assert_eq!(
                pdb["selector"]["app.kubernetes.io/name"], w["labels"]["app.kubernetes.io/name"],
                "{ctx}"
            );
            match name {
                "server" => {
                    assert_eq!(w["kind"], "Deployment", "{ctx}");
                    assert!(w["replicas"].as_u64() >= Some(2), "{ctx}");
                    assert_eq!(
                        w["containers"][0]["probes"]["readinessProbe"]["httpGet"]["path"],
                        "/ready"
                    );
                    assert_eq!(
                        w["containers"][0]["probes"]["livenessProbe"]["httpGet"]["path"],
                        "/health"
                    );
                    let hpa = &facts["hpas"][key.as_str()];
                    assert_eq!(hpa["target"], "Deployment/server", "{ctx}");
                    assert!(hpa["min"].as_u64() >= Some(2), "{ctx}");
                    assert_eq!(hpa["metrics"], serde_json::json!(["cpu"]), "{ctx}");
                    assert_eq!(pdb["minAvailable"], 1, "{ctx}");
                }
                "node1" | "node2" => {
                    assert_eq!(w["kind"], "StatefulSet", "{ctx}");
                    assert_eq!(w["replicas"], 1, "{ctx}");
                    assert!(
                        w["volumes"]["state"]["claim"].is_string(),
                        "{ctx}: no seal-state volume"
                    );
                    // A sealed node must stay reachable for its unseal: the readiness probe
                    // checks the port, not the seal.
                    assert!(
                        w["containers"][0]["probes"]["readinessProbe"]["tcpSocket"].is_object(),
                        "{ctx}"
                    );
                    assert_eq!(pdb["maxUnavailable"], 0, "{ctx}");
                }
                other => panic!("{ctx}: unexpected workload {other}"),
            }
        }
    }
    assert_eq!(
        seen_roles,
        ["node1", "node2", "operator", "server"]
            .map(String::from)
            .into(),
    );
}

/// The TOML configs the manifests mount are read by the daemons' own parsers: a key the
/// daemon does not know (or a renamed one) fails here, not in a cluster at start.
#[test]
fn the_configs_deploy_mounts_parse_as_the_daemons_read_them() {
    let mut seen = 0;
    let mut stack = vec![deploy()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if name.starts_with("node") {
                let c: planbok_node::NodeConfig =
                    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(c.metrics_listen.is_some(), "{}", path.display());
                // Everything but the grant key placeholder passes the node's own checks.
                let err = c.check().unwrap_err();
                assert!(
                    err.contains("hex") || err.contains("64"),
                    "{}: {err}",
                    path.display()
                );
            } else {
                planbok_server::config::ServerConfig::from_toml(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            seen += 1;
        }
    }
    assert!(seen >= 4, "{seen} configs");
}
