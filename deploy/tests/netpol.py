#!/usr/bin/env python3
"""Reads rendered planbok manifests (`kubectl kustomize` output) and prints JSON.

    netpol.py flows --world WORLD.json CLUSTER=RENDERED.yaml [CLUSTER=RENDERED.yaml ...]
        Every flow (source, destination, port) that the NetworkPolicies allow on both the
        egress and the ingress side, as a sorted JSON list of strings
        "SOURCE -> DESTINATION:PORT/PROTOCOL".
    netpol.py facts RENDERED.yaml
        What the Rust test checks besides flows: namespaces, workloads (hardening, probes,
        resources, volumes), certificates, disruption budgets, autoscalers.

Used by crates/planbok-cli/tests/it/deploy.rs, which holds the expected answers. Needs only
PyYAML (a dependency of kubernetes-validate).

The flow model follows the NetworkPolicy API (networking.k8s.io/v1):
- a pod is isolated for ingress (egress) once a policy of its namespace selects it with
  that policy type; an isolated pod accepts (sends) only what some selecting policy's rule
  allows; a pod no policy selects is not isolated in that direction;
- a flow happens only when the source's egress and the destination's ingress both allow it;
- a peer is podSelector (policy's namespace), namespaceSelector, both (AND), or ipBlock
  (cidr minus except), matched against pod IPs too (as Calico and Cilium do); rules without
  `from`/`to` match every peer, rules without `ports` every port; named ports resolve
  against the destination pod's container ports; `endPort` ranges; protocol defaults to TCP;
- namespaces carry the automatic `kubernetes.io/metadata.name` label.

The WORLD file describes what the manifests do not contain: pods of other namespaces
(ingress controller, monitoring, kube-dns, operator pods, strangers), addresses outside
the clusters (databases, OpenBao, the internet), how clusters see each other
(`addresses`: an in-cluster pod reachable from outside at an IP, e.g. a load balancer;
`egress`: the source IP a pod's traffic leaves the cluster with, else `egress_ip`). Flows
between two parties that are both outside the manifests' namespaces are not reported.
"""

import ipaddress
import json
import sys

import yaml

PROBE_PORT = "9999/TCP"  # a port nothing declares: a rule without `ports` shows up on it


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def selector_matches(selector, labels):
    """A LabelSelector; an empty selector matches everything."""
    if selector is None:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SystemExit(f"unknown selector operator {op}")
    return True


def parse_port(text):
    number, proto = text.split("/")
    return int(number), proto


class Pod:
    def __init__(self, cluster, namespace, name, labels, ports, ip):
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.labels = labels
        # [(number, protocol, name or None)]
        self.ports = ports
        self.ip = ipaddress.ip_address(ip)

    @property
    def id(self):
        return f"{self.cluster}/{self.namespace}/{self.name}"


class External:
    def __init__(self, name, ip, ports):
        self.name = name
        self.ip = ipaddress.ip_address(ip)
        self.ports = [parse_port(p) + (None,) for p in ports]

    @property
    def id(self):
        return f"external/{self.name}"


class Cluster:
    def __init__(self, name, docs, world):
        self.name = name
        self.policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
        self.managed = {d["metadata"]["name"] for d in docs if d.get("kind") == "Namespace"}
        self.ns_labels = {}
        for d in docs:
            if d.get("kind") == "Namespace":
                self.ns_labels[d["metadata"]["name"]] = dict(d["metadata"].get("labels") or {})
        for ns in world.get("namespaces", []):
            self.ns_labels.setdefault(ns, {})
        for ns, labels in self.ns_labels.items():
            labels["kubernetes.io/metadata.name"] = ns
        self.egress_ip = world.get("egress_ip")
        self.egress = world.get("egress", {})
        self.addresses = world.get("addresses", {})
        network = ipaddress.ip_network(world["pod_cidr"])
        hosts = network.hosts()
        self.pods = []
        for d in docs:
            if d.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
                continue
            ns = d["metadata"]["namespace"]
            if d["kind"] == "Pod":
                meta, spec = d["metadata"], d["spec"]
            else:
                meta, spec = d["spec"]["template"]["metadata"], d["spec"]["template"]["spec"]
            ports = [
                (p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
                for c in spec["containers"]
                for p in c.get("ports") or []
            ]
            self.pods.append(
                Pod(name, ns, d["metadata"]["name"], meta.get("labels") or {}, ports, str(next(hosts)))
            )
        for a in world.get("actors", []):
            if a["namespace"] not in self.ns_labels:
                raise SystemExit(f"actor {a['name']}: namespace {a['namespace']} is not in the world")
            ports = [parse_port(p) + (None,) for p in a.get("ports", [])]
            self.pods.append(Pod(name, a["namespace"], a["name"], a.get("labels", {}), ports, str(next(hosts))))
        for pod in self.pods:
            if pod.namespace not in self.ns_labels:
                raise SystemExit(f"{pod.id}: namespace {pod.namespace} is neither rendered nor in the world")

    def selecting(self, pod, direction):
        """The policies that select `pod` for `direction` ("Ingress" or "Egress")."""
        out = []
        for p in self.policies:
            if p["metadata"]["namespace"] != pod.namespace:
                continue
            spec = p["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
            if direction in types and selector_matches(spec.get("podSelector") or {}, pod.labels):
                out.append(p)
        return out

    def peer_matches(self, policy_ns, peer, other):
        """Does a rule's peer match `other` (a Pod of this cluster, or an IP address)?"""
        if "ipBlock" in peer:
            ip = other.ip if isinstance(other, Pod) else other
            block = peer["ipBlock"]
            if ip not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(ip in ipaddress.ip_network(e) for e in block.get("except") or [])
        if not isinstance(other, Pod):
            return False  # selectors match pods only
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self.ns_labels[other.namespace]):
                return False
        elif other.namespace != policy_ns:
            return False
        return selector_matches(peer.get("podSelector"), other.labels)

    @staticmethod
    def port_matches(rule_ports, port, dest_ports):
        if not rule_ports:
            return True
        number, proto = port
        for rp in rule_ports:
            if rp.get("protocol", "TCP") != proto:
                continue
            want = rp.get("port")
            if want is None:
                return True
            if isinstance(want, str):
                if any(n == number and pr == proto and nm == want for n, pr, nm in dest_ports):
                    return True
                continue
            if want <= number <= rp.get("endPort", want):
                return True
        return False

    def allows(self, pod, direction, other, port, dest_ports):
        """Does `pod` accept (Ingress) from / send (Egress) to `other` on `port`?"""
        policies = self.selecting(pod, direction)
        if not policies:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for p in policies:
            for rule in p["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(self.peer_matches(p["metadata"]["namespace"], q, other) for q in peers):
                    continue
                if self.port_matches(rule.get("ports"), port, dest_ports):
                    return True
        return False

    def source_ip(self, pod):
        key = f"{pod.namespace}/{pod.name}"
        return ipaddress.ip_address(self.egress.get(key, self.egress_ip))

    def address_of(self, pod):
        a = self.addresses.get(f"{pod.namespace}/{pod.name}")
        return ipaddress.ip_address(a) if a else None


def flows(world_path, specs):
    with open(world_path) as f:
        world = json.load(f)
    clusters = {}
    for spec in specs:
        name, path = spec.split("=", 1)
        if name not in world["clusters"]:
            raise SystemExit(f"cluster {name} is not in {world_path}")
        clusters[name] = Cluster(name, load(path), world["clusters"][name])
    externals = [External(e["name"], e["ip"], e["ports"]) for e in world.get("external", [])]
    probe = parse_port(PROBE_PORT) + (None,)

    def ports_of(dest):
        return sorted(set(dest.ports + [probe]), key=lambda p: (p[0], p[1]))

    allowed = set()

    def record(src_id, dst_id, port):
        allowed.add(f"{src_id} -> {dst_id}:{port[0]}/{port[1]}")

    for c in clusters.values():
        for src in c.pods:
            # Within the cluster.
            for dst in c.pods:
                if dst is src or not (src.namespace in c.managed or dst.namespace in c.managed):
                    continue
                for number, proto, _ in ports_of(dst):
                    port = (number, proto)
                    if c.allows(src, "Egress", dst, port, dst.ports) and c.allows(dst, "Ingress", src, port, dst.ports):
                        record(src.id, dst.id, port)
            # To addresses outside every cluster.
            for ext in externals:
                if src.namespace not in c.managed:
                    continue
                for number, proto, _ in ports_of(ext):
                    if c.allows(src, "Egress", ext.ip, (number, proto), []):
                        record(src.id, ext.id, (number, proto))
            # To pods of other clusters that have an address there.
            for other in clusters.values():
                if other is c:
                    continue
                for dst in other.pods:
                    address = other.address_of(dst)
                    if address is None or not (src.namespace in c.managed or dst.namespace in other.managed):
                        continue
                    for number, proto, _ in ports_of(dst):
                        port = (number, proto)
                        if c.allows(src, "Egress", address, port, []) and other.allows(
                            dst, "Ingress", c.source_ip(src), port, dst.ports
                        ):
                            record(src.id, dst.id, port)
        # From addresses outside every cluster to pods that have an address.
        for ext in externals:
            for dst in c.pods:
                if c.address_of(dst) is None or dst.namespace not in c.managed:
                    continue
                for number, proto, _ in ports_of(dst):
                    if c.allows(dst, "Ingress", ext.ip, (number, proto), dst.ports):
                        record(ext.id, dst.id, (number, proto))
    return sorted(allowed)


def facts(path):
    docs = load(path)
    out = {"namespaces": {}, "workloads": {}, "certificates": {}, "pdbs": {}, "hpas": {}, "kinds": []}
    for d in docs:
        kind, meta = d["kind"], d["metadata"]
        key = f"{meta.get('namespace', '')}/{meta['name']}"
        out["kinds"].append(f"{d['apiVersion']}/{kind}")
        if kind == "Namespace":
            out["namespaces"][meta["name"]] = meta.get("labels") or {}
        elif kind in ("Deployment", "StatefulSet"):
            spec = d["spec"]
            pod = spec["template"]["spec"]
            psc = pod.get("securityContext") or {}
            containers = []
            for c in pod["containers"]:
                sc = c.get("securityContext") or {}
                containers.append({
                    "name": c["name"],
                    "image": c["image"],
                    "args": c.get("args") or [],
                    "ports": {p["name"]: p["containerPort"] for p in c.get("ports") or []},
                    "probes": {
                        k: v for k in ("startupProbe", "livenessProbe", "readinessProbe") if (v := c.get(k))
                    },
                    "resources": c.get("resources") or {},
                    "runAsNonRoot": sc.get("runAsNonRoot", psc.get("runAsNonRoot")),
                    "readOnlyRootFilesystem": sc.get("readOnlyRootFilesystem"),
                    "allowPrivilegeEscalation": sc.get("allowPrivilegeEscalation"),
                    "capabilitiesDrop": (sc.get("capabilities") or {}).get("drop") or [],
                    "capabilitiesAdd": (sc.get("capabilities") or {}).get("add") or [],
                    "seccomp": (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type"),
                    "secretEnv": sorted(
                        e["valueFrom"]["secretKeyRef"]["name"]
                        for e in c.get("env") or []
                        if "secretKeyRef" in (e.get("valueFrom") or {})
                    ),
                    "mounts": {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []},
                })
            volumes = {}
            for v in pod.get("volumes") or []:
                if "secret" in v:
                    volumes[v["name"]] = {"secret": v["secret"]["secretName"]}
                elif "configMap" in v:
                    volumes[v["name"]] = {"configMap": v["configMap"]["name"]}
                else:
                    volumes[v["name"]] = {"other": sorted(k for k in v if k != "name")}
            for t in spec.get("volumeClaimTemplates") or []:
                volumes[t["metadata"]["name"]] = {"claim": t["spec"]["resources"]["requests"]["storage"]}
            out["workloads"][key] = {
                "kind": kind,
                "replicas": spec.get("replicas"),
                "labels": spec["template"]["metadata"].get("labels") or {},
                "automountServiceAccountToken": pod.get("automountServiceAccountToken"),
                "hostNetwork": pod.get("hostNetwork", False),
                "runAsUser": psc.get("runAsUser"),
                "containers": containers,
                "volumes": volumes,
            }
        elif kind == "Certificate":
            s = d["spec"]
            out["certificates"][key] = {
                "secretName": s["secretName"],
                "uris": s.get("uris") or [],
                "dnsNames": s.get("dnsNames") or [],
                "usages": s.get("usages") or [],
                "issuer": f"{s['issuerRef'].get('kind', 'Issuer')}/{s['issuerRef']['name']}",
                "isCA": s.get("isCA", False),
            }
        elif kind == "PodDisruptionBudget":
            out["pdbs"][key] = {k: d["spec"].get(k) for k in ("minAvailable", "maxUnavailable")} | {
                "selector": d["spec"]["selector"].get("matchLabels") or {}
            }
        elif kind == "HorizontalPodAutoscaler":
            s = d["spec"]
            out["hpas"][key] = {
                "target": f"{s['scaleTargetRef']['kind']}/{s['scaleTargetRef']['name']}",
                "min": s.get("minReplicas"),
                "max": s["maxReplicas"],
                "metrics": [m["resource"]["name"] for m in s.get("metrics") or [] if m["type"] == "Resource"],
            }
    return out


def main(argv):
    if len(argv) >= 4 and argv[1] == "flows" and argv[2] == "--world":
        result = flows(argv[3], argv[4:])
    elif len(argv) == 3 and argv[1] == "facts":
        result = facts(argv[2])
    else:
        raise SystemExit(__doc__)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
