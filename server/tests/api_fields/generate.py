#!/usr/bin/env python3
"""Writes the field lists that server/tests/manifests.rs checks deploy/ against.

    python3 server/tests/api_fields/generate.py AGONES_REPO [REV]

AGONES_REPO is a clone of github.com/googleforgames/agones (a work tree or a bare git directory;
REV defaults to HEAD). Two files are written beside this script:

- agones.txt: Fleet, FleetAutoscaler and GameServer, from the OpenAPI schemas of Agones' CRDs
  (install/helm/agones/templates/crds/*.yaml). Those are Helm templates: the few template actions
  they use are rendered here the way Helm renders them, with the chart's default values
  (values.yaml) and default feature gates (defaultfeaturegates.yaml).
- kubernetes.txt: Deployment, Service, Secret, ServiceAccount, Role, RoleBinding and Ingress, from
  the schema of every built-in Kubernetes type that client-go carries for server-side apply
  (vendor/k8s.io/client-go/applyconfigurations/internal/internal.go in the same Agones revision,
  generated from the Kubernetes OpenAPI document of the client-go version in its go.mod).

The format is described at the top of each file. Needs python3 with PyYAML.
"""

import os
import re
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CRDS = "install/helm/agones/templates/crds"


class Repo:
    """Reads files of one revision from a work tree or a git directory."""

    def __init__(self, path, rev):
        self.path = path
        self.rev = subprocess.run(
            ["git", "-C", path, "rev-parse", rev], check=True, capture_output=True, text=True
        ).stdout.strip()

    def read(self, name):
        return subprocess.run(
            ["git", "-C", self.path, "show", f"{self.rev}:{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def list(self, folder):
        out = subprocess.run(
            ["git", "-C", self.path, "ls-tree", "-r", "--name-only", self.rev, folder],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.split()


# --- a renderer for the subset of Go templates that Agones' CRD templates use ---------------------

ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)


def tokenize(text):
    """Text and actions, with Go's trim markers applied."""
    tokens = []
    pos = 0
    trim_next = False
    for m in ACTION.finditer(text):
        chunk = text[pos : m.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if m.group(1) == "-":
            chunk = chunk.rstrip()
        tokens.append(("text", chunk))
        tokens.append(("action", m.group(2).strip()))
        trim_next = m.group(3) == "-"
        pos = m.end()
    chunk = text[pos:]
    tokens.append(("text", chunk.lstrip() if trim_next else chunk))
    return tokens


def parse(tokens, i=0, stop=("end",)):
    """A tree of nodes until one of `stop`; returns (nodes, index of the stopping action)."""
    nodes = []
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "text":
            nodes.append(("text", value))
            i += 1
            continue
        if value.startswith("/*"):
            i += 1
            continue
        word = value.split(None, 1)[0]
        if word in stop:
            return nodes, i
        if word == "define":
            name = value.split('"')[1]
            body, i = parse(tokens, i + 1)
            nodes.append(("define", name, body))
        elif word == "if":
            body, i = parse(tokens, i + 1, stop=("end", "else"))
            other = []
            if tokens[i][1].startswith("else"):
                other, i = parse(tokens, i + 1)
            nodes.append(("if", value[2:].strip(), body, other))
        else:
            nodes.append(("action", value))
        i += 1
    return nodes, i


class Renderer:
    def __init__(self, repo):
        self.repo = repo
        self.defines = {}
        self.values = yaml.safe_load(repo.read("install/helm/agones/values.yaml"))
        self.gates = yaml.safe_load(repo.read("install/helm/agones/defaultfeaturegates.yaml"))
        for name in repo.list(CRDS):
            self.collect(parse(tokenize(repo.read(name)))[0])

    def collect(self, nodes):
        for node in nodes:
            if node[0] == "define":
                self.defines[node[1]] = node[2]

    def lookup(self, expr, dot, variables):
        expr = expr.strip()
        if expr in ("true", "false"):
            return expr == "true"
        if expr.startswith("$"):
            name, _, rest = expr.partition(".")
            value = variables[name]
        elif expr == ".":
            return dot
        elif expr.startswith("."):
            value, rest = dot, expr[1:]
        else:
            raise ValueError(f"unsupported template expression {expr!r}")
        for part in filter(None, rest.split(".")):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def evaluate(self, expr, dot, variables):
        pipeline = [p.strip() for p in expr.split("|")]
        head = pipeline[0]
        if head.startswith("(") and head.endswith(")"):
            head = head[1:-1].strip()
        if head.startswith("dict"):
            words = re.findall(r'"[^"]*"|\S+', head)[1:]
            value = {
                words[k].strip('"'): self.lookup(words[k + 1], dot, variables)
                for k in range(0, len(words), 2)
            }
        elif head.startswith("include") or head.startswith("template"):
            name = head.split('"')[1]
            argument = head.split('"', 2)[2].strip()
            if name == "agones.featureGates":
                value = yaml.safe_dump(self.gates)
            elif name.startswith("agones."):
                value = "agones"
            else:
                value = self.render(self.defines[name], self.evaluate(argument, dot, variables), {})
        else:
            value = self.lookup(head, dot, variables)
        for step in pipeline[1:]:
            words = step.split()
            if words[0] == "default":
                value = value if value else self.lookup(words[1], dot, variables)
            elif words[0] == "indent":
                pad = " " * int(words[1])
                value = "\n".join(pad + line for line in value.split("\n"))
            elif words[0] == "fromYaml":
                value = yaml.safe_load(value)
            else:
                raise ValueError(f"unsupported template function {step!r}")
        return value

    def render(self, nodes, dot, variables):
        out = []
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "define":
                continue
            elif node[0] == "if":
                branch = node[2] if self.evaluate(node[1], dot, variables) else node[3]
                out.append(self.render(branch, dot, variables))
            else:
                action = node[1]
                m = re.match(r"(\$\w+)\s*:=\s*(.*)", action, re.DOTALL)
                if m:
                    variables[m.group(1)] = self.evaluate(m.group(2), dot, variables)
                    continue
                m = re.match(r'include\s+"(io\.k8s\.[^"]+)"\s+\S+\s*\|\s*indent\s+(\d+)$', action)
                if m:
                    # A Kubernetes type Agones copied into its schema: one section of its own.
                    out.append("\n" + " " * int(m.group(2)) + f"x-fields-ref: agones:{m.group(1)}")
                    continue
                value = self.evaluate(action, dot, variables)
                out.append("" if value is None else str(value).lower() if isinstance(value, bool) else str(value))
        return "".join(out)

    def crd(self, name):
        context = {"Values": self.values, "Release": {"Name": "agones", "Service": "Helm"}}
        return yaml.safe_load(self.render(parse(tokenize(self.repo.read(f"{CRDS}/{name}")))[0], context, {}))

    def define(self, name):
        return yaml.safe_load(self.render(self.defines[name], {}, {}))


# --- OpenAPI schema (Agones' CRDs) to field paths --------------------------------------------------


def schema_paths(schema, prefix, lines):
    path = ".".join(prefix)
    if "x-fields-ref" in schema:
        lines.append(f"{path} -> {schema['x-fields-ref']}")
        return
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        lines.append(f"{path} -> any")
        return
    found = False
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        before = len(lines)
        schema_paths(schema["items"], prefix, lines)
        found = len(lines) > before
    for name, sub in (schema.get("properties") or {}).items():
        if not prefix and name == "status":
            continue  # written by Agones, never by a manifest
        schema_paths(sub, prefix + [name], lines)
        found = True
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        schema_paths(extra, prefix + ["*"], lines)
        found = True
    elif extra is True:
        lines.append(f"{path}.* -> any")
        found = True
    if not found and path:
        lines.append(path)


def crd_section(renderer, file, kind):
    crd = renderer.crd(file)
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    api_version = f"{crd['spec']['group']}/{version['name']}"
    lines = ["apiVersion", "kind", "metadata -> io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    schema_paths(version["schema"]["openAPIV3Schema"], [], lines)
    return api_version, lines


# --- structured-merge-diff schema (client-go) to field paths ---------------------------------------

ANY = ("__untyped_atomic_", "__untyped_deduced_")


class Kubernetes:
    def __init__(self, repo):
        source = repo.read("vendor/k8s.io/client-go/applyconfigurations/internal/internal.go")
        text = source.split("typed.YAMLObject(`", 1)[1].split("`)", 1)[0]
        self.types = {t["name"]: t for t in yaml.safe_load(text)["types"]}
        self.sections = {}

    def type_lines(self, prefix, atom, pending):
        """Lines for a field at `prefix` whose type is `atom` (an inline type or a named one)."""
        if "namedType" in atom:
            name = atom["namedType"]
            if name in ANY:
                return [f"{prefix} -> any"]
            named = self.types[name]
            if "map" not in named and "list" not in named:
                return [prefix]  # a scalar such as Quantity, IntOrString or Time
            if "fields" not in named.get("map", {}):
                return [f"{prefix} -> any"]  # free-form: RawExtension, FieldsV1
            pending.append(name)
            return [f"{prefix} -> {name}"]
        if "scalar" in atom:
            return [prefix]
        if "list" in atom:
            return self.type_lines(prefix, atom["list"]["elementType"], pending)
        if "map" in atom:
            fields = atom["map"].get("fields")
            if fields is not None:
                lines = []
                for field in fields:
                    lines += self.type_lines(f"{prefix}.{field['name']}", field["type"], pending)
                return lines or [prefix]
            return self.type_lines(f"{prefix}.*", atom["map"]["elementType"], pending)
        raise ValueError(f"unsupported type {atom!r}")

    def section(self, name, root=False):
        pending = [name]
        while pending:
            name = pending.pop()
            if name in self.sections:
                continue
            lines = []
            for field in self.types[name]["map"]["fields"]:
                if root and field["name"] == "status":
                    continue  # written by controllers, never by a manifest
                lines += self.type_lines(field["name"], field["type"], pending)
            self.sections[name] = lines
            root = False


KUBERNETES_KINDS = [
    ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
    ("v1", "Service", "io.k8s.api.core.v1.Service"),
    ("v1", "Secret", "io.k8s.api.core.v1.Secret"),
    ("v1", "ServiceAccount", "io.k8s.api.core.v1.ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role", "io.k8s.api.rbac.v1.Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "io.k8s.api.rbac.v1.RoleBinding"),
    ("networking.k8s.io/v1", "Ingress", "io.k8s.api.networking.v1.Ingress"),
]

AGONES_KINDS = [("fleet.yaml", "Fleet"), ("fleetautoscaler.yaml", "FleetAutoscaler"), ("gameserver.yaml", "GameServer")]

FORMAT = """\
# Format: `kind API_VERSION KIND TYPE` names the section a kind's documents are checked against.
# `[TYPE]` starts a section; each line under it is a field path inside that type: segments joined
# by dots, `*` for any key of a map, list items are checked at the path of their list (as
# `kubectl explain` names them). Every prefix of a listed path is a field too. `PATH -> TYPE`: the
# value at PATH is checked against section TYPE; `PATH -> any`: anything may be under PATH.
# `status` is left out: controllers write it, manifests never do.
"""


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    repo = Repo(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "HEAD")
    chart = yaml.safe_load(repo.read("install/helm/agones/Chart.yaml"))
    client_go = re.search(r"k8s.io/client-go (v\S+)", repo.read("go.mod")).group(1)

    renderer = Renderer(repo)
    with open(os.path.join(HERE, "agones.txt"), "w") as out:
        out.write(
            "# Fields of Agones' resources, from the OpenAPI schemas of its CRDs\n"
            f"# (install/helm/agones/templates/crds/*.yaml), Agones {chart['appVersion']} at commit\n"
            f"# {repo.rev}, rendered with the chart's defaults\n"
            "# (lists.maxItems 1000, podPreserveUnknownFields false, default feature gates, so\n"
            "# CountsAndLists and ScheduledAutoscaler are in). The `metadata` of each resource is\n"
            "# Kubernetes' ObjectMeta (kubernetes.txt), which every custom resource has.\n"
            "# Written by generate.py beside this file: do not edit by hand.\n#\n" + FORMAT
        )
        sections = []
        for file, kind in AGONES_KINDS:
            api_version, lines = crd_section(renderer, file, kind)
            out.write(f"kind {api_version} {kind} agones:{kind}\n")
            sections.append((f"agones:{kind}", lines))
        refs = sorted({line.split(" -> ")[1] for _, lines in sections for line in lines if " -> agones:" in line})
        for ref in refs:
            lines = []
            schema_paths(renderer.define(ref[len("agones:") :]), [], lines)
            sections.append((ref, lines))
        for name, lines in sections:
            out.write(f"\n[{name}]\n" + "".join(line + "\n" for line in lines))

    kubernetes = Kubernetes(repo)
    for _, _, name in KUBERNETES_KINDS:
        kubernetes.section(name, root=True)
    kubernetes.section("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    with open(os.path.join(HERE, "kubernetes.txt"), "w") as out:
        out.write(
            "# Fields of built-in Kubernetes resources, from the schema client-go "
            f"{client_go} (Kubernetes 1.{client_go.split('.')[1]})\n"
            "# keeps for server-side apply (k8s.io/client-go/applyconfigurations/internal/internal.go,\n"
            "# generated from Kubernetes' OpenAPI document, the source of its API reference), as vendored\n"
            f"# by Agones at commit {repo.rev}.\n"
            "# Written by generate.py beside this file: do not edit by hand.\n#\n" + FORMAT
        )
        for api_version, kind, name in KUBERNETES_KINDS:
            out.write(f"kind {api_version} {kind} {name}\n")
        for name in sorted(kubernetes.sections):
            out.write(f"\n[{name}]\n" + "".join(line + "\n" for line in kubernetes.sections[name]))


if __name__ == "__main__":
    main()
