#!/usr/bin/env python3
"""Generates kupgrade's embedded table of deprecated and removed Kubernetes APIs.

Source of truth: the prerelease-lifecycle data Kubernetes generates for every group/version
(`zz_generated.prerelease-lifecycle.go`: introduced, deprecated, removed and replacement per
kind), from kubernetes/api, kubernetes/apiextensions-apiserver and kubernetes/kube-aggregator.
The API server itself uses this data to warn about and stop serving those versions. Entries the
lifecycle data does not have (alpha versions removed before it existed, audit.k8s.io
configuration files, core kinds deprecated without a lifecycle tag, CSI snapshot CRDs) come from
`extras.yaml`, each with its source.

Two steps, both offline once the inputs are committed:

  # 1. Copy the lifecycle files of the newest release tag holding each group/version out of
  #    local clones (any `git clone` of the repositories, with tags):
  scripts/gen-deprecations.py refresh --through v0.36.0 \
      --repo kubernetes/api=/src/api \
      --repo kubernetes/apiextensions-apiserver=/src/apiextensions-apiserver \
      --repo kubernetes/kube-aggregator=/src/kube-aggregator

  # 2. Write crates/kupgrade-kube/src/data/deprecations.yaml and the coverage report against
  #    Pluto's versions.yaml and kubent's rules (both copied under data/reference):
  scripts/gen-deprecations.py generate          # --check: fail if the outputs are stale

Needs Python 3.8+ and PyYAML.
"""

import argparse
import csv
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATE = os.path.join(ROOT, "crates", "kupgrade-kube")
INPUTS = os.path.join(CRATE, "data", "lifecycle")
SOURCES = os.path.join(INPUTS, "SOURCES.tsv")
EXTRAS = os.path.join(CRATE, "data", "extras.yaml")
REFERENCE = os.path.join(CRATE, "data", "reference")
OUT_TABLE = os.path.join(CRATE, "src", "data", "deprecations.yaml")
OUT_COVERAGE = os.path.join(CRATE, "data", "COVERAGE.md")
LIFECYCLE_FILE = "zz_generated.prerelease-lifecycle.go"
# Groups of configuration files read by Kubernetes components, not objects of the API.
CONFIG_GROUPS = ("audit.k8s.io/",)
CONFIG_NOTE = "a configuration file (kube-apiserver --audit-policy-file), not an API object: update the file on the control plane (managed clusters: the provider's)"

FUNC = re.compile(
    r"func \(in \*(\w+)\) APILifecycle(Introduced|Deprecated|Removed|Replacement)\(\)[^{]*\{\s*return ([^\n]+)"
)
GVK = re.compile(r'Group: "([^"]*)", Version: "([^"]*)", Kind: "([^"]*)"')
GROUP_NAME = re.compile(r'const GroupName = "([^"]*)"')


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def minor_of(tag):
    return int(tag.split(".")[1])


# ---------------------------------------------------------------- refresh


def refresh(args):
    through = minor_of(args.through)
    rows = []
    for spec in args.repo:
        name, path = spec.split("=", 1)
        tags = sorted(
            (t for t in git(path, "tag").split() if re.fullmatch(r"v0\.\d+\.0", t) and minor_of(t) <= through),
            key=minor_of,
        )
        # Newest tag first: a kind takes its data from the newest release that still has it, and
        # an older file is kept only when it has kinds later releases deleted (e.g. policy/v1beta1
        # PodSecurityPolicy, gone from the types after its removal in 1.25).
        seen = {}
        for tag in reversed(tags):
            for f in git(path, "ls-tree", "-r", "--name-only", tag).split("\n"):
                if not f.endswith("/" + LIFECYCLE_FILE):
                    continue
                gv_dir = os.path.dirname(f)
                text = git(path, "show", f"{tag}:{f}")
                kinds = {k for k, _, _ in FUNC.findall(text)}
                if kinds <= seen.setdefault(gv_dir, set()):
                    continue
                seen[gv_dir] |= kinds
                group = group_name(path, tag, gv_dir)
                dest = os.path.join(INPUTS, name, gv_dir, f"{tag}.go")
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest, "w") as out:
                    out.write(text)
                commit = git(path, "rev-parse", f"{tag}^{{commit}}").strip()
                rows.append([name, gv_dir, group, os.path.basename(gv_dir), tag, commit])
    rows.sort(key=lambda r: (r[0], r[1], -minor_of(r[4])))
    with open(SOURCES, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["repo", "dir", "group", "version", "tag", "commit"])
        w.writerows(rows)
    print(f"wrote {len(rows)} group/versions to {os.path.relpath(INPUTS, ROOT)}")


def group_name(path, tag, gv_dir):
    for register in (f"{gv_dir}/register.go", f"{os.path.dirname(gv_dir)}/register.go"):
        try:
            m = GROUP_NAME.search(git(path, "show", f"{tag}:{register}"))
        except subprocess.CalledProcessError:
            continue
        if m:
            return m.group(1)
    sys.exit(f"{path} {tag} {gv_dir}: no GroupName in register.go")


# ---------------------------------------------------------------- generate


def read_lifecycle():
    """{(api_version, kind): {introduced, deprecated, removed, replacement, source, note}}

    A kind's data comes from the newest release file that has it (SOURCES.tsv lists each
    group/version's files newest first). A `FooList` takes the dates of `Foo` in the same
    group/version: the API server serves a list from its resource's endpoint, and the upstream
    data for a few lists lags their resource (autoscaling/v2beta2 HorizontalPodAutoscalerList
    says removed in 1.25, the resource 1.26; networking.k8s.io/v1 NetworkPolicyList says
    introduced in 1.19, the resource 1.7)."""
    table = {}
    with open(SOURCES) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        api_version = f"{row['group']}/{row['version']}" if row["group"] else row["version"]
        with open(os.path.join(INPUTS, row["repo"], row["dir"], f"{row['tag']}.go")) as f:
            text = f.read()
        url = f"https://github.com/{row['repo']}/blob/{row['tag']}/{row['dir']}/{LIFECYCLE_FILE}"
        parsed = {}
        for kind, what, value in FUNC.findall(text):
            e = parsed.setdefault((api_version, kind), {"source": url})
            if what == "Replacement":
                g, v, k = GVK.search(value).groups()
                e["replacement"] = (f"{g}/{v}" if g else v, k)
            else:
                major, minor = (int(x) for x in value.split(","))
                e[what.lower()] = (major, minor)
        for key, e in parsed.items():
            e["repo"], e["tag"] = row["repo"], row["tag"]
            table.setdefault(key, e)
    # Types leave the repository only once no release serves them (removed betas keep theirs
    # for clients), so a kind whose newest file is older than the repository's newest release
    # was removed in the release after it, even when its lifecycle data named a later one
    # (resource.k8s.io/v1alpha3 ResourceClaim: data says 1.37, types gone in 1.34).
    newest = {}
    for row in rows:
        newest[row["repo"]] = max(newest.get(row["repo"], row["tag"]), row["tag"], key=minor_of)
    for e in table.values():
        if e["tag"] == newest[e["repo"]]:
            continue
        gone = (1, minor_of(e["tag"]) + 1)
        if "removed" not in e or e["removed"] > gone:
            said = fmt(e["removed"]) if "removed" in e else "no removal"
            e["note"] = f"removed in {fmt(gone)}, when its types left {e['repo']} (the lifecycle data says {said})"
            e["removed"] = gone
            if "deprecated" not in e or e["deprecated"] > gone:
                e["deprecated"] = gone
    for (api_version, kind), e in table.items():
        item = table.get((api_version, kind[: -len("List")])) if kind.endswith("List") else None
        if item is None:
            continue
        differs = [f for f in ("introduced", "deprecated", "removed") if e.get(f) != item.get(f)]
        if differs:
            upstream = ", ".join(f"{f} {fmt(e[f]) if f in e else 'none'}" for f in differs)
            e["note"] = f"dated as {kind[: -len('List')]} (served with it); the upstream data for the list says {upstream}"
        for f in ("introduced", "deprecated", "removed"):
            if f in item:
                e[f] = item[f]
            else:
                e.pop(f, None)
    return table, rows


def served_at(lifecycle, api_version, kind, release):
    """Whether the lifecycle data says api_version serves kind at release (a (1, minor) pair)."""
    e = lifecycle.get((api_version, kind))
    if e is None and re.fullmatch(r"v\d+", api_version.rsplit("/", 1)[-1]) and not any(
        av == api_version for av, _ in lifecycle
    ):
        # A GA group/version without lifecycle data (audit.k8s.io/v1): GA versions are never
        # removed within Kubernetes 1.x (deprecation policy, rule 3).
        return True
    if e is None or "introduced" not in e:
        return False
    return e["introduced"] <= release and ("removed" not in e or e["removed"] > release)


STABILITY = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?$")


def stability_key(version):
    m = STABILITY.match(version)
    if not m:
        return (0, 0, 0)
    rank = {"alpha": 1, "beta": 2, None: 3}[m.group(2)]
    return (rank, int(m.group(1)), int(m.group(3) or 0))


def pick_replacement(lifecycle, api_version, kind, upstream, release):
    """The replacement named for (api_version, kind) removed (or deprecated) at release: the
    upstream one when it is served then, else the most stable version of the same group serving
    the kind then (e.g. flowcontrol v1alpha1 -> v1beta1 at 1.21: upstream names v1beta3, which
    only arrived in 1.26). Returns (replacement or None, note or None)."""
    if upstream and served_at(lifecycle, upstream[0], upstream[1], release):
        return upstream, None
    group = upstream[0].rsplit("/", 1)[0] if upstream and "/" in upstream[0] else api_version.rsplit("/", 1)[0]
    want = upstream[1] if upstream else kind
    if upstream and upstream[0] not in {av for av, _ in lifecycle} and served_at(lifecycle, *upstream, release):
        return upstream, None
    candidates = [
        av
        for (av, k) in lifecycle
        if k == want and av != api_version and av.rsplit("/", 1)[0] == group and served_at(lifecycle, av, k, release)
    ]
    candidates.sort(key=lambda av: stability_key(av.rsplit("/", 1)[-1]), reverse=True)
    note = None
    if upstream:
        note = (
            f"the upstream data names {upstream[0]} {upstream[1]}, which is not served at 1.{release[1]}"
        )
    if candidates:
        return (candidates[0], want), note
    return None, note


def fmt(v):
    return f"{v[0]}.{v[1]}"


def generate(args):
    lifecycle, rows = read_lifecycle()
    with open(EXTRAS) as f:
        extras = yaml.safe_load(f)
    entries = []
    for (api_version, kind), e in sorted(lifecycle.items()):
        if "deprecated" not in e:
            continue
        release = e.get("removed", e["deprecated"])
        replacement, note = pick_replacement(lifecycle, api_version, kind, e.get("replacement"), release)
        entry = {
            "api_version": api_version,
            "kind": kind,
            "introduced_in": fmt(e["introduced"]) if "introduced" in e else None,
            "deprecated_in": fmt(e["deprecated"]),
            "removed_in": fmt(e["removed"]) if "removed" in e else None,
            "replacement": None if replacement is None else (
                replacement[0] if replacement[1] == kind else f"{replacement[0]} {replacement[1]}"
            ),
            "source": e["source"],
        }
        notes = [e["note"]] if e.get("note") else []
        if api_version.startswith(CONFIG_GROUPS):
            notes.insert(0, CONFIG_NOTE)
        if note:
            notes.append(note + (f"; {replacement[0]} is" if replacement else "; nothing is") + " served then")
        if notes:
            entry["note"] = "; ".join(notes)
        entries.append(entry)
    known = {(e["api_version"], e["kind"]) for e in entries}
    for a in extras.get("advice", []):
        key = (a["api_version"], a["kind"])
        if key not in known:
            sys.exit(f"extras.yaml: advice for {key}, which the lifecycle data does not deprecate")
        for e in entries:
            if (e["api_version"], e["kind"]) == key:
                e["note"] = "; ".join(filter(None, [e.get("note"), a["note"]]))
    for x in extras["entries"]:
        key = (x["api_version"], x["kind"])
        if key in known:
            sys.exit(f"extras.yaml: {key} is already in the lifecycle data; remove it from extras.yaml")
        if x.get("replacement"):
            av, _, k = x["replacement"].partition(" ")
            k = k or x["kind"]
            release = tuple(int(p) for p in (x.get("removed_in") or x["deprecated_in"]).split("."))
            if (av, k) in lifecycle and not served_at(lifecycle, av, k, release):
                sys.exit(f"extras.yaml: {key}: replacement {av} {k} is not served at {fmt(release)}")
        entries.append({
            "api_version": x["api_version"],
            "kind": x["kind"],
            "introduced_in": x.get("introduced_in"),
            "deprecated_in": x["deprecated_in"],
            "removed_in": x.get("removed_in"),
            "replacement": x.get("replacement"),
            "source": x["source"],
            **({"note": x["note"]} if x.get("note") else {}),
        })
        known.add(key)
    entries.sort(key=lambda e: (
        tuple(int(p) for p in (e["removed_in"] or "99.99").split(".")),
        e["api_version"], e["kind"],
    ))
    newest_tag = max((r["tag"] for r in rows), key=minor_of)
    table = render_table(entries, rows, newest_tag)
    coverage = render_coverage(entries, lifecycle)
    outputs = [(OUT_TABLE, table), (OUT_COVERAGE, coverage)]
    if args.check:
        stale = [p for p, text in outputs if not os.path.exists(p) or open(p).read() != text]
        if stale:
            sys.exit("stale: " + ", ".join(os.path.relpath(p, ROOT) for p in stale) + "; run scripts/gen-deprecations.py generate")
        print("up to date")
        return
    for path, text in outputs:
        with open(path, "w") as f:
            f.write(text)
    print(f"wrote {len(entries)} entries to {os.path.relpath(OUT_TABLE, ROOT)} and {os.path.relpath(OUT_COVERAGE, ROOT)}")


def render_table(entries, rows, newest_tag):
    commits = sorted({(r["repo"], r["tag"], r["commit"]) for r in rows})
    out = [
        "# GENERATED by scripts/gen-deprecations.py from Kubernetes' prerelease-lifecycle data; do not edit.",
        "# Change crates/kupgrade-kube/data/extras.yaml or refresh the inputs, then run the script.",
        "# Inputs (crates/kupgrade-kube/data/lifecycle/SOURCES.tsv): the newest release tag holding each",
        "# group/version, through " + newest_tag + ":",
    ]
    for repo, tag, commit in commits:
        out.append(f"#   {repo} {tag} {commit}")
    out += [
        "# A replacement is named only when the lifecycle data says it is served at the removal",
        "# release (or at the deprecation release when no removal is scheduled).",
        f'covered_through: "1.{minor_of(newest_tag)}"',
        "entries:",
    ]
    removed = None
    for e in entries:
        if e["removed_in"] != removed:
            removed = e["removed_in"]
            out.append(f"  # ---- removed in {removed}" if removed else "  # ---- deprecated, no removal scheduled")
        fields = ["api_version", "kind", "introduced_in", "deprecated_in", "removed_in", "replacement", "source", "note"]
        parts = []
        for k in fields:
            if k not in e or (k == "note" and not e[k]):
                continue
            v = e[k]
            if v is None:
                parts.append(f"{k}: null")
            elif k in ("introduced_in", "deprecated_in", "removed_in", "source", "note", "replacement"):
                parts.append(f"{k}: {yaml_str(v)}")
            else:
                parts.append(f"{k}: {v}")
        out.append("  - {" + ", ".join(parts) + "}")
    return "\n".join(out) + "\n"


def yaml_str(v):
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- coverage


def version_of(v):
    if not v:
        return None
    m = re.match(r"v?(\d+)\.(\d+)", str(v))
    return f"{m.group(1)}.{m.group(2)}" if m else None


def read_pluto():
    with open(os.path.join(REFERENCE, "pluto-versions.yaml")) as f:
        data = yaml.safe_load(f)
    for e in data["deprecated-versions"]:
        yield {
            "api_version": e["version"],
            "kind": e["kind"],
            "deprecated_in": version_of(e.get("deprecated-in")),
            "removed_in": version_of(e.get("removed-in")),
            "replacement": e.get("replacement-api") or None,
            "component": e.get("component", "k8s"),
        }


KUBENT_RULE = re.compile(r'"(\w+)": \{\s*"old": \[([^\]]*)\],\s*"new": "([^"]*)",\s*"since": "([^"]*)"', re.S)


def read_kubent():
    folder = os.path.join(REFERENCE, "kubent")
    for name in sorted(os.listdir(folder)):
        m = re.match(r"deprecated-(\d+)-(\d+)\.rego$", name)
        removed = f"{m.group(1)}.{m.group(2)}" if m else None
        with open(os.path.join(folder, name)) as f:
            text = f.read()
        for kind, old, new, since in KUBENT_RULE.findall(text):
            for av in re.findall(r'"([^"]+)"', old):
                yield {
                    "api_version": av,
                    "kind": kind,
                    "deprecated_in": version_of(since),
                    "removed_in": removed,
                    "replacement": None if new in ("", "<removed>") else new,
                    "rule_file": name,
                }


def render_coverage(entries, lifecycle):
    ours = {(e["api_version"], e["kind"]): e for e in entries}
    lines = [
        "# Coverage of Pluto's and kubent's data by kupgrade's table",
        "",
        "GENERATED by `scripts/gen-deprecations.py` (do not edit). Every entry of Pluto's",
        "`versions.yaml` and of kubent's rules (copies under `data/reference/`, origin in",
        "`data/reference/README.md`) is either covered by `src/data/deprecations.yaml` or listed",
        "here with why not. Where a value differs, kupgrade follows Kubernetes' own",
        "prerelease-lifecycle data (what the API server enforces) or, for entries outside it,",
        "`data/extras.yaml` with its source; the difference is shown.",
        "",
    ]
    for title, items in (("Pluto `versions.yaml`", list(read_pluto())), ("kubent rules", list(read_kubent()))):
        covered, differ, missing = 0, [], []
        for it in items:
            key = (it["api_version"], it["kind"])
            e = ours.get(key)
            if e is None:
                missing.append((it, why_missing(it, lifecycle)))
                continue
            covered += 1
            diffs = []
            for field in ("deprecated_in", "removed_in", "replacement"):
                theirs, mine = it.get(field), e.get(field)
                if field == "replacement" and theirs and mine and mine.split(" ")[0] == theirs:
                    continue
                if theirs != mine and not (field == "deprecated_in" and theirs is None):
                    diffs.append(f"{field}: theirs {theirs or 'none'}, ours {mine or 'none'}")
            if diffs:
                differ.append((it, diffs))
        lines += [f"## {title}", "", f"{len(items)} entries: {covered} covered, {len(missing)} not covered.", ""]
        if differ:
            lines += ["Covered with different values (ours come from the source named in the table):", ""]
            for it, diffs in differ:
                lines.append(f"- `{it['api_version']}` {it['kind']}: " + "; ".join(diffs))
            lines.append("")
        if missing:
            lines += ["Not covered, and why:", ""]
            for it, why in missing:
                lines.append(f"- `{it['api_version']}` {it['kind']}: {why}")
            lines.append("")
    return "\n".join(lines)


def why_missing(it, lifecycle):
    component = it.get("component", "k8s")
    if component != "k8s":
        return (
            f"not a Kubernetes API ({component} add-on CRD); add it with `--deprecations FILE`, "
            "and `scan --live` reports CRD versions that are deprecated or no longer served"
        )
    versions = {av for av, _ in lifecycle}
    if it["api_version"] in versions:
        if (it["api_version"], it["kind"]) not in lifecycle:
            return f"{it['api_version']} never served {it['kind']} (no such kind in its lifecycle data, in any release)"
        return "not deprecated in Kubernetes' lifecycle data"
    return "no lifecycle data for this group/version and no entry in data/extras.yaml"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("refresh", help="copy lifecycle files out of local clones")
    r.add_argument("--repo", action="append", required=True, metavar="OWNER/NAME=PATH")
    r.add_argument("--through", required=True, metavar="v0.N.0", help="newest release tag to read")
    g = sub.add_parser("generate", help="write the table and the coverage report")
    g.add_argument("--check", action="store_true", help="fail when the committed outputs are stale")
    args = p.parse_args()
    refresh(args) if args.cmd == "refresh" else generate(args)


if __name__ == "__main__":
    main()
