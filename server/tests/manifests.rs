//! The Kubernetes manifests under `deploy/` parse as YAML (several documents to a file) and name only
//! fields that exist in the Agones and Kubernetes APIs, and the Agones ones agree with each other.
//!
//! The fields come from checked-in lists, `tests/api_fields/agones.txt` (from the OpenAPI schemas of
//! Agones' CRDs) and `tests/api_fields/kubernetes.txt` (from client-go's schema of the built-in
//! types); their headers say which revision, and `generate.py` beside them writes them again.

use serde::Deserialize;
use serde_yaml::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The field lists, in the order the checker reads them.
const FIELD_LISTS: [(&str, &str); 2] = [
    ("agones.txt", include_str!("api_fields/agones.txt")),
    ("kubernetes.txt", include_str!("api_fields/kubernetes.txt")),
];

/// What a field's value is checked against.
#[derive(Debug, Clone, PartialEq)]
enum Below {
    /// The field paths of the same section that extend this one (none: a plain value).
    Fields,
    /// The named section, from its root.
    Section(String),
    /// Anything at all (free-form fields such as `managedFields.fieldsV1`).
    Any,
}

/// The fields of every kind the lists know.
struct Api {
    /// (apiVersion, kind) to the section its documents are checked against.
    kinds: HashMap<(String, String), String>,
    /// Section name to its field paths (each listed path and all of its prefixes).
    sections: HashMap<String, HashMap<String, Below>>,
}

impl Api {
    /// Reads field lists in the format their headers describe.
    fn parse(lists: &[(&str, &str)]) -> Result<Api, String> {
        let mut api = Api {
            kinds: HashMap::new(),
            sections: HashMap::new(),
        };
        for (file, text) in lists {
            let mut section: Option<String> = None;
            for (number, line) in text.lines().enumerate() {
                let at = format!("{file}:{}", number + 1);
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if let Some(rest) = line.strip_prefix("kind ") {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let [api_version, kind, name] = words[..] else {
                        return Err(format!("{at}: expected `kind API_VERSION KIND SECTION`"));
                    };
                    api.kinds
                        .insert((api_version.into(), kind.into()), name.into());
                } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']'))
                {
                    if api.sections.insert(name.into(), HashMap::new()).is_some() {
                        return Err(format!("{at}: section {name} listed twice"));
                    }
                    section = Some(name.into());
                } else {
                    let Some(name) = &section else {
                        return Err(format!("{at}: a field outside a section"));
                    };
                    let fields = api.sections.get_mut(name).expect("section created above");
                    add_field(fields, line).map_err(|e| format!("{at}: {e}"))?;
                }
            }
        }
        for (name, fields) in &api.sections {
            for below in fields.values() {
                if let Below::Section(target) = below {
                    if !api.sections.contains_key(target) {
                        return Err(format!(
                            "section {name} refers to {target}, which no list has"
                        ));
                    }
                }
            }
        }
        for ((api_version, kind), name) in &api.kinds {
            if !api.sections.contains_key(name) {
                return Err(format!(
                    "kind {api_version} {kind} refers to {name}, which no list has"
                ));
            }
        }
        Ok(api)
    }

    /// The lists checked in beside this test.
    fn checked_in() -> Api {
        Api::parse(&FIELD_LISTS).unwrap_or_else(|e| panic!("the field lists do not read: {e}"))
    }
}

/// Adds one line of a section, `PATH`, `PATH -> SECTION` or `PATH -> any`.
fn add_field(fields: &mut HashMap<String, Below>, line: &str) -> Result<(), String> {
    let (path, below) = match line.split_once(" -> ") {
        Some((path, "any")) => (path.trim(), Below::Any),
        Some((path, target)) => (path.trim(), Below::Section(target.trim().into())),
        None => (line, Below::Fields),
    };
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!("`{path}` is not a field path"));
    }
    let mut prefix = String::new();
    for segment in path.split('.') {
        if !prefix.is_empty() {
            if fields.get(&prefix).is_some_and(|b| *b != Below::Fields) {
                return Err(format!(
                    "`{prefix}` refers elsewhere but `{path}` extends it"
                ));
            }
            fields.entry(prefix.clone()).or_insert(Below::Fields);
            prefix.push('.');
        }
        prefix.push_str(segment);
    }
    match fields.get(path) {
        Some(existing) if *existing != below => Err(format!("`{path}` listed twice, differently")),
        _ => {
            fields.insert(path.into(), below);
            Ok(())
        }
    }
}

/// `parent.child`, or `child` at the root.
fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.into()
    } else {
        format!("{parent}.{child}")
    }
}

/// The number of single-character edits between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The fields beside `parent` in a section that come closest to `name`, if one is close.
fn closest(fields: &HashMap<String, Below>, parent: &str, name: &str) -> Option<String> {
    let siblings = fields.keys().filter_map(|path| {
        let rest = if parent.is_empty() {
            Some(path.as_str())
        } else {
            path.strip_prefix(&format!("{parent}."))
        };
        rest.filter(|r| !r.contains('.') && *r != "*")
    });
    let (distance, best) = siblings.map(|s| (edit_distance(s, name), s)).min()?;
    (distance <= 2.max(name.len() / 3)).then(|| best.to_string())
}

/// Checks one value against a section at `pattern` (its field path there); `real` is the
/// document's own path to it, for messages. Appends a line per field the API does not have.
fn check_value(
    api: &Api,
    section: &str,
    pattern: &str,
    real: &str,
    value: &Value,
    problems: &mut Vec<String>,
) {
    let fields = &api.sections[section];
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let Some(key) = key.as_str() else {
                    problems.push(format!("`{real}` has a key that is not a string: {key:?}"));
                    continue;
                };
                let real_child = join(real, key);
                let direct = (!key.contains('.') && key != "*").then(|| join(pattern, key));
                let any_key = join(pattern, "*");
                let found = direct
                    .filter(|p| fields.contains_key(p))
                    .or_else(|| fields.contains_key(&any_key).then_some(any_key));
                let Some(found) = found else {
                    let hint = closest(fields, pattern, key)
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    let place = if pattern.is_empty() {
                        String::new()
                    } else {
                        format!(" at `{pattern}`")
                    };
                    problems.push(format!(
                        "`{real_child}` is not a field (no `{key}` in {section}{place}){hint}"
                    ));
                    continue;
                };
                match &fields[&found] {
                    Below::Any => {}
                    Below::Section(target) => {
                        check_value(api, target, "", &real_child, child, problems)
                    }
                    Below::Fields => {
                        // A path with fields below it holds an object, not a value: a key put one
                        // level too high (`lists: {capacity: 3}`) reads as a named entry otherwise.
                        let has_fields = fields.keys().any(|f| f.starts_with(&format!("{found}.")));
                        let scalar =
                            matches!(child, Value::Bool(_) | Value::Number(_) | Value::String(_));
                        if has_fields && scalar {
                            problems.push(format!(
                                "`{real_child}` must be an object (`{found}` has fields)"
                            ));
                            continue;
                        }
                        check_value(api, section, &found, &real_child, child, problems)
                    }
                }
            }
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter().enumerate() {
                check_value(
                    api,
                    section,
                    pattern,
                    &format!("{real}[{index}]"),
                    item,
                    problems,
                );
            }
        }
        Value::Tagged(tagged) => check_value(api, section, pattern, real, &tagged.value, problems),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Every document of a YAML stream (empty ones left out), or why it does not parse.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| format!("document {}: not YAML: {e}", index + 1))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Every problem with a YAML stream of manifests, one line each (none: every field exists).
fn check_manifests(api: &Api, text: &str) -> Vec<String> {
    let documents = match documents(text) {
        Ok(documents) => documents,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let (api_version, kind) = (document["apiVersion"].as_str(), document["kind"].as_str());
        let name = document["metadata"]["name"].as_str().unwrap_or("(no name)");
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            problems.push(format!("document {}: no apiVersion and kind", index + 1));
            continue;
        };
        let Some(section) = api.kinds.get(&(api_version.to_string(), kind.to_string())) else {
            let mut known: Vec<String> =
                api.kinds.keys().map(|(v, k)| format!("{v} {k}")).collect();
            known.sort();
            problems.push(format!(
                "document {} ({kind} {name}): no field list for {api_version} {kind} (listed: {})",
                index + 1,
                known.join(", ")
            ));
            continue;
        };
        let mut found = Vec::new();
        check_value(api, section, "", "", document, &mut found);
        problems.extend(
            found
                .into_iter()
                .map(|p| format!("document {} ({kind} {name}): {p}", index + 1)),
        );
    }
    problems
}

/// The repository's `deploy/` folder.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every YAML file under `dir`, at any depth.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Every document of every manifest under `deploy/`, with the file it came from.
fn deployed_documents() -> Vec<(String, Value)> {
    let mut files = Vec::new();
    yaml_files(&deploy_dir(), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a manifest reads");
        let name = file
            .strip_prefix(deploy_dir())
            .unwrap_or(&file)
            .display()
            .to_string();
        for document in documents(&text).unwrap_or_else(|e| panic!("deploy/{name}: {e}")) {
            out.push((name.clone(), document));
        }
    }
    out
}

#[test]
fn every_manifest_under_deploy_names_only_fields_of_the_agones_and_kubernetes_apis() {
    let api = Api::checked_in();
    let mut files = Vec::new();
    yaml_files(&deploy_dir(), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a manifest reads");
        let name = file
            .strip_prefix(deploy_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        problems.extend(
            check_manifests(&api, &text)
                .into_iter()
                .map(|p| format!("deploy/{name}: {p}")),
        );
    }
    assert!(
        problems.is_empty(),
        "fields the APIs do not have:\n{}",
        problems.join("\n")
    );

    // The check saw what the deployment is made of, so it cannot pass by finding nothing.
    let kinds: Vec<String> = deployed_documents()
        .iter()
        .map(|(_, d)| d["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    for kind in [
        "Fleet",
        "FleetAutoscaler",
        "Deployment",
        "Service",
        "Secret",
        "ServiceAccount",
        "Ingress",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} under deploy/ (found {kinds:?})"
        );
    }
}

/// A Fleet and a Deployment with one field name left open, in two documents of one stream.
fn manifests_with(fleet_list_field: &str, container_field: &str) -> String {
    format!(
        r#"
apiVersion: agones.dev/v1
kind: Fleet
metadata:
  name: example
spec:
  template:
    spec:
      lists:
        players:
          {fleet_list_field}: 16
      template:
        spec:
          containers:
            - name: server
              image: example
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: example
spec:
  selector:
    matchLabels:
      app: example
  template:
    metadata:
      labels:
        app: example
    spec:
      containers:
        - name: web
          image: example
        - name: other
          {container_field}: IfNotPresent
"#
    )
}

#[test]
fn a_misspelt_field_is_caught_in_either_api_in_any_document_and_named_with_its_path() {
    let api = Api::checked_in();
    let good = check_manifests(&api, &manifests_with("capacity", "imagePullPolicy"));
    assert_eq!(good, Vec::<String>::new(), "the correct spelling passes");

    let bad_fleet = check_manifests(&api, &manifests_with("capcity", "imagePullPolicy"));
    assert_eq!(bad_fleet.len(), 1, "{bad_fleet:?}");
    assert!(
        bad_fleet[0].starts_with(
            "document 1 (Fleet example): `spec.template.spec.lists.players.capcity` is not a field"
        ),
        "{bad_fleet:?}"
    );
    assert!(
        bad_fleet[0].ends_with("did you mean `capacity`?"),
        "{bad_fleet:?}"
    );

    // In the second document, inside the Kubernetes pod template, in a list item.
    let bad_deployment = check_manifests(&api, &manifests_with("capacity", "imagePulPolicy"));
    assert_eq!(bad_deployment.len(), 1, "{bad_deployment:?}");
    assert!(
        bad_deployment[0].starts_with("document 2 (Deployment example): `spec.template.spec.containers[1].imagePulPolicy` is not a field"),
        "{bad_deployment:?}"
    );
    assert!(
        bad_deployment[0].ends_with("did you mean `imagePullPolicy`?"),
        "{bad_deployment:?}"
    );
}

#[test]
fn a_field_at_the_wrong_depth_an_unknown_kind_and_broken_yaml_are_caught() {
    let api = Api::checked_in();
    // `capacity` exists, but under a list's name, not beside `lists`: read as a list named
    // `capacity`, it is a value where a list's object belongs.
    let misplaced = "apiVersion: agones.dev/v1\nkind: Fleet\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      lists:\n        capacity: 3\n";
    let problems = check_manifests(&api, misplaced);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`spec.template.spec.lists.capacity` must be an object"),
        "{problems:?}"
    );
    let misplaced =
        "apiVersion: agones.dev/v1\nkind: Fleet\nmetadata: {name: a}\nspec:\n  capacity: 3\n";
    let problems = check_manifests(&api, misplaced);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`spec.capacity` is not a field"),
        "{problems:?}"
    );

    let unknown = check_manifests(
        &api,
        "apiVersion: agones.dev/v1\nkind: Flet\nmetadata: {name: a}\n",
    );
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].contains("no field list for agones.dev/v1 Flet"),
        "{unknown:?}"
    );

    let broken = check_manifests(
        &api,
        "apiVersion: v1\nkind: Secret\n---\nmetadata: [unclosed\n",
    );
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("document 2: not YAML"), "{broken:?}");

    let duplicate = check_manifests(&api, "apiVersion: v1\nkind: Secret\nkind: Secret\n");
    assert_eq!(
        duplicate.len(),
        1,
        "a key given twice is refused: {duplicate:?}"
    );
}

#[test]
fn the_field_lists_refuse_contradictions() {
    let list = |body: &str| Api::parse(&[("test.txt", body)]).err();
    assert_eq!(
        list("[a]\nspec.x\nspec.x.y\n"),
        None,
        "a prefix listed on its own is fine"
    );
    assert!(
        list("[a]\nspec -> b\nspec.x\n[b]\nx\n").is_some_and(|e| e.contains("refers elsewhere"))
    );
    assert!(list("[a]\nspec -> missing\n").is_some_and(|e| e.contains("which no list has")));
    assert!(list("kind v1 Secret missing\n").is_some_and(|e| e.contains("which no list has")));
    assert!(list("spec\n").is_some_and(|e| e.contains("outside a section")));
}

/// The value after `--flag` (or in `--flag=value`) in a container's arguments.
fn flag<'a>(args: &'a [Value], name: &str) -> Option<&'a str> {
    let (long, with_value) = (format!("--{name}"), format!("--{name}="));
    let mut args = args.iter().filter_map(Value::as_str);
    while let Some(arg) = args.next() {
        if arg == long {
            return args.next();
        }
        if let Some(value) = arg.strip_prefix(&with_value) {
            return Some(value);
        }
    }
    None
}

#[test]
fn the_fleet_autoscaler_and_directory_agree() {
    let documents = deployed_documents();
    let find = |kind: &str| {
        let found: Vec<&Value> = documents
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d["kind"].as_str() == Some(kind))
            .collect();
        assert_eq!(found.len(), 1, "one {kind} under deploy/");
        found[0]
    };
    let fleet = find("Fleet");
    let autoscaler = find("FleetAutoscaler");
    let deployment = find("Deployment");
    let service = find("Service");
    let ingress = find("Ingress");
    let fleet_name = fleet["metadata"]["name"]
        .as_str()
        .expect("the fleet's name");

    // The fleet's lists start at the capacities its servers set from their arguments.
    let game = &fleet["spec"]["template"]["spec"];
    let server = &game["template"]["spec"]["containers"][0];
    let args = server["args"]
        .as_sequence()
        .expect("the game server's args");
    let number = |name: &str| -> u64 {
        flag(args, name)
            .unwrap_or_else(|| panic!("--{name}"))
            .parse()
            .expect("a number")
    };
    let (rooms, seats) = (number("max-rooms"), number("max-players-per-room"));
    let capacity = |list: &str| {
        game["lists"][list]["capacity"]
            .as_u64()
            .unwrap_or_else(|| panic!("lists.{list}.capacity"))
    };
    assert_eq!(
        capacity("players"),
        (rooms * seats).min(1000),
        "players = rooms x seats"
    );
    assert_eq!(capacity("rooms"), rooms.min(1000));
    assert_eq!(capacity("full"), rooms.min(1000));
    assert!(args.iter().any(|a| a.as_str() == Some("--agones")));
    let bind_port = flag(args, "bind")
        .and_then(|b| b.rsplit(':').next())
        .expect("--bind HOST:PORT");
    let ports = game["ports"].as_sequence().expect("the fleet's ports");

    // The autoscaler scales this fleet on its players list, within Agones' rules for a List policy.
    assert_eq!(autoscaler["spec"]["fleetName"].as_str(), Some(fleet_name));
    let list = &autoscaler["spec"]["policy"]["list"];
    assert_eq!(autoscaler["spec"]["policy"]["type"].as_str(), Some("List"));
    assert_eq!(list["key"].as_str(), Some("players"));
    let (buffer, min, max) = (
        list["bufferSize"].as_u64(),
        list["minCapacity"].as_u64(),
        list["maxCapacity"].as_u64(),
    );
    let (buffer, min, max) = (
        buffer.expect("bufferSize"),
        min.expect("minCapacity"),
        max.expect("maxCapacity"),
    );
    assert!(
        buffer > 0 && buffer <= max && min <= max && (min == 0 || min >= buffer),
        "{buffer} {min} {max}"
    );

    // The directory allocates from this fleet, by the game port, for the page the servers allow.
    let directory = &deployment["spec"]["template"]["spec"]["containers"][0];
    let directory_args = directory["args"]
        .as_sequence()
        .expect("the directory's args");
    assert_eq!(flag(directory_args, "fleet"), Some(fleet_name));
    let port_name = flag(directory_args, "game-port-name").expect("--game-port-name");
    let port = ports
        .iter()
        .find(|p| p["name"].as_str() == Some(port_name))
        .expect("the fleet has the directory's game port");
    assert_eq!(
        port["containerPort"]
            .as_u64()
            .map(|p| p.to_string())
            .as_deref(),
        Some(bind_port)
    );
    assert_eq!(flag(directory_args, "game-scheme"), Some("wss"));
    let template = flag(directory_args, "game-host-template").expect("--game-host-template");
    assert!(
        template.contains("{dashed}") || template.contains("{address}"),
        "{template}"
    );
    let host = ingress["spec"]["rules"][0]["host"]
        .as_str()
        .expect("the Ingress's host");
    assert_eq!(
        flag(args, "allowed-origin"),
        Some(format!("https://{host}").as_str())
    );

    // The Deployment's selector, and the Service's, pick its pods.
    let labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .expect("pod labels");
    for selector in [
        &deployment["spec"]["selector"]["matchLabels"],
        &service["spec"]["selector"],
    ] {
        let selector = selector.as_mapping().expect("a selector");
        assert!(
            !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            "{selector:?}"
        );
    }

    // The allocator credentials: the files the directory reads are keys of the Secret it mounts.
    let volume = &deployment["spec"]["template"]["spec"]["volumes"][0];
    let mount = &directory["volumeMounts"][0];
    assert_eq!(volume["name"], mount["name"]);
    let secret_name = volume["secret"]["secretName"]
        .as_str()
        .expect("a Secret volume");
    let secret = documents
        .iter()
        .map(|(_, d)| d)
        .find(|d| {
            d["kind"].as_str() == Some("Secret")
                && d["metadata"]["name"].as_str() == Some(secret_name)
        })
        .expect("the allocator Secret is under deploy/");
    let mount_path = mount["mountPath"].as_str().expect("a mount path");
    for name in ["allocator-cert", "allocator-key", "allocator-ca"] {
        let file = flag(directory_args, name).unwrap_or_else(|| panic!("--{name}"));
        let key = file
            .strip_prefix(&format!("{mount_path}/"))
            .unwrap_or_else(|| panic!("--{name} {file} is under {mount_path}"));
        assert!(!secret["stringData"][key].is_null(), "the Secret has {key}");
    }

    // No Kubernetes API rights: no token, and nothing binds the ServiceAccount.
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("a ServiceAccount");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
    for (file, document) in &documents {
        let kind = document["kind"].as_str().unwrap_or_default();
        if kind.ends_with("RoleBinding") {
            let subjects = document["subjects"]
                .as_sequence()
                .cloned()
                .unwrap_or_default();
            assert!(
                subjects.iter().all(|s| s["name"].as_str() != Some(account)),
                "deploy/{file} binds {account}"
            );
        }
    }
}
