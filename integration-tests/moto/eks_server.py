"""An EKS API emulator for kupgrade's tests: moto_server, plus the version updates moto lacks.

moto (PyPI `moto[server]`) serves the EKS cluster and node-group calls, but not
`UpdateClusterVersion`, `UpdateNodegroupVersion`, `DescribeUpdate`, `ListUpdates`,
`DescribeClusterVersions`, `ListAddons` or `ListInsights`. This module adds them on moto's own
state (an emulated cluster has no add-ons and no insights), and every request and
response goes through the botocore EKS service model that moto ships with:

* requests are routed by the model's `http.requestUri`, their parameters (path, query and
  JSON body) are checked against the operation's input shape with botocore's own validator
  (an unknown or mistyped field is an HTTP 400 naming it), and they are counted per operation;
* moto serialises our responses through the operation's output shape, so a field the model
  lacks never reaches the client;
* refusals use the model's error shapes and status codes (ResourceInUseException 409,
  InvalidParameterException 400, ThrottlingException 429).

Rules the updates follow, as EKS documents them:

* a control plane moves one minor per `UpdateClusterVersion`; one update at a time per
  cluster (ResourceInUseException while one runs); the same `clientRequestToken` returns the
  update it started;
* node groups: `--lag-rule guide` (default) refuses a control-plane update that would leave
  a node group more than three minors behind (the EKS user guide's version-skew page); with
  `--lag-rule strict`, every node group must match the cluster before its update (the API
  reference of `UpdateClusterVersion`), refused with EKS's own message, "Nodegroups a, b must
  be updated to match cluster version 1.30 before updating cluster version";
* a node group never moves past the control plane; a node group is busy while its update runs.

An update stays `InProgress` for `--polls` `DescribeUpdate` calls (default 2) and then applies
its version to moto's cluster or node group.

Test controls, under `/_kupgrade/` (not EKS):
* `GET /_kupgrade/calls`: `{"Operation": count}` of the EKS calls served so far;
* `POST /_kupgrade/fail {"operation": "UpdateNodegroupVersion", "status": 429, "times": 2}`:
  the next `times` calls of that operation are refused with the model's error for `status`;
* `GET /_kupgrade/updates`: every version update started, oldest first (a request that
  reuses a `clientRequestToken` starts none);
* `GET /_kupgrade/nodegroups?cluster=NAME`: each node group's version, status and size in
  us-east-1, uncounted (the tests' stand-in for the nodes a Kubernetes API would list);
* `POST /_kupgrade/lag-rule {"rule": "strict"}`.

Usage: python eks_server.py -p PORT [--lag-rule guide|strict] [--polls N]
"""

import argparse
import io
import json
import re
import threading
import uuid
from collections import Counter
from datetime import datetime, timezone
from urllib.parse import parse_qs

import botocore.session
from botocore.validate import ParamValidator
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.eks import exceptions as eks_errors
from moto.eks import urls as eks_urls
from moto.eks.models import eks_backends
from moto.eks.responses import EKSResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

MODEL = botocore.session.get_session().get_service_model("eks")
LOCK = threading.Lock()
CALLS = Counter()
FAULTS = {}  # operation -> [status, times]
SETTINGS = {"lag_rule": "guide", "polls": 2}
UPDATES = {}  # update id -> dict
TOKENS = {}  # (cluster, nodegroup, token) -> update id

# The versions EKS offers, as DescribeClusterVersions lists them (dates from the EKS
# Kubernetes release calendar, docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
OFFERED = [
    ("1.29", "2024-01-23", "2025-03-23", "2026-03-23", "EXTENDED_SUPPORT"),
    ("1.30", "2024-05-23", "2025-07-23", "2026-07-23", "EXTENDED_SUPPORT"),
    ("1.31", "2024-09-26", "2025-11-26", "2026-11-26", "EXTENDED_SUPPORT"),
    ("1.32", "2025-01-23", "2026-03-23", "2027-03-23", "EXTENDED_SUPPORT"),
    ("1.33", "2025-05-29", "2026-07-29", "2027-07-29", "EXTENDED_SUPPORT"),
    ("1.34", "2025-10-02", "2026-12-02", "2027-12-02", "STANDARD_SUPPORT"),
]


def minor(version):
    return int(version.split(".")[1])


def _routes():
    """(method, compiled path regex, operation name), most specific paths first."""
    routes = []
    for name in MODEL.operation_names:
        http = MODEL.operation_model(name).http
        path = http["requestUri"].split("?")[0]
        regex = "^" + re.sub(r"\{([^}+]+)\+?\}", r"(?P<\1>[^/]+)", path) + "$"
        routes.append((http["method"], re.compile(regex), name, path.count("{")))
    routes.sort(key=lambda r: (r[3], -len(r[1].pattern)))
    return [(m, r, n) for m, r, n, _ in routes]


ROUTES = _routes()


def operation_for(method, path):
    for m, regex, name in ROUTES:
        if m == method:
            match = regex.match(path)
            if match:
                return name, match.groupdict()
    return None, {}


def _coerce(shape, values):
    value = values[0]
    if shape.type_name == "list":
        return [_coerce(shape.member, [v]) for v in values]
    if shape.type_name == "integer":
        return int(value)
    if shape.type_name == "boolean":
        return value == "true"
    return value


def request_params(name, uri, query, body):
    """The operation's input as botocore's validator expects it, or an error text."""
    shape = MODEL.operation_model(name).input_shape
    if shape is None:
        return {}, None
    params = {}
    by_location = {}
    for member, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        location_name = member_shape.serialization.get("name", member)
        by_location[(location, location_name)] = (member, member_shape)
    for key, value in uri.items():
        member, member_shape = by_location[("uri", key)]
        params[member] = value
    for key, values in query.items():
        if ("querystring", key) not in by_location:
            return None, f"{name}: query parameter {key!r} is not in the EKS service model"
        member, member_shape = by_location[("querystring", key)]
        params[member] = _coerce(member_shape, values)
    if body:
        try:
            data = json.loads(body)
        except ValueError as e:
            return None, f"{name}: body is not JSON: {e}"
        for key, value in data.items():
            match = [
                m for m, s in shape.members.items()
                if s.serialization.get("location") is None and s.serialization.get("name", m) == key
            ]
            if not match:
                return None, f"{name}: body field {key!r} is not in the EKS service model"
            params[match[0]] = value
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        return None, f"{name}: {report.generate_report()}"
    return params, None


def error(status, code, message):
    return Response(
        json.dumps({"message": message}),
        status=status,
        headers={"x-amzn-ErrorType": code, "content-type": "application/json"},
    )


ERROR_FOR_STATUS = {
    409: "ResourceInUseException",
    429: "ThrottlingException",
    500: "ServerException",
    503: "ServiceUnavailableException",
}


class Emulator:
    """WSGI middleware: test controls, model checks and fault injection in front of moto."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path.startswith("/_kupgrade/"):
            return self.control(request, path)(environ, start_response)
        if "/eks/aws4_request" not in request.headers.get("Authorization", ""):
            return self.app(environ, start_response)
        name, uri = operation_for(request.method, path)
        if name is None:
            return self.app(environ, start_response)
        body = request.get_data()
        # moto reads the body again.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        query = parse_qs(request.query_string.decode(), keep_blank_values=True)
        _, problem = request_params(name, uri, query, body)
        with LOCK:
            CALLS[name] += 1
            fault = FAULTS.get(name)
            if fault and fault[1] > 0:
                fault[1] -= 1
                status = fault[0]
                return error(
                    status,
                    ERROR_FOR_STATUS.get(status, "ServerException"),
                    f"injected by the test: {name} refused with HTTP {status}",
                )(environ, start_response)
        if problem:
            return error(400, "InvalidParameterException", problem)(environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def control(request, path):
        data = request.get_json(silent=True) or {}
        with LOCK:
            if path == "/_kupgrade/calls":
                return Response(json.dumps(dict(CALLS)), content_type="application/json")
            if path == "/_kupgrade/fail":
                FAULTS[data["operation"]] = [int(data["status"]), int(data.get("times", 1))]
                return Response("{}", content_type="application/json")
            if path == "/_kupgrade/updates":
                started = [
                    {"cluster": u["cluster"], "nodegroup": u["nodegroup"], "version": u["version"]}
                    for u in sorted(UPDATES.values(), key=lambda u: u["createdAt"])
                ]
                return Response(json.dumps(started), content_type="application/json")
            if path == "/_kupgrade/nodegroups":
                cluster = eks_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].clusters[request.args["cluster"]]
                groups = {
                    name: {
                        "version": g.version,
                        "status": g.status,
                        "desiredSize": g.scaling_config["desiredSize"],
                    }
                    for name, g in cluster.nodegroups.items()
                }
                return Response(json.dumps(groups), content_type="application/json")
            if path == "/_kupgrade/lag-rule":
                SETTINGS["lag_rule"] = data["rule"]
                return Response("{}", content_type="application/json")
        return Response("unknown control", status=404)


# --- the operations moto lacks, on moto's own state ------------------------------------------


def _now():
    return datetime.now(timezone.utc)


def _cluster(backend, name):
    cluster = backend.clusters.get(name)
    if cluster is None:
        raise eks_errors.ResourceNotFoundException(
            clusterName=name, message=f"No cluster found for name: {name}."
        )
    return cluster


def _nodegroup(cluster, name):
    group = cluster.nodegroups.get(name)
    if group is None:
        raise eks_errors.ResourceNotFoundException(
            clusterName=cluster.name,
            nodegroupName=name,
            message=f"No node group found for name: {name}.",
        )
    return group


def _view(update):
    return {
        "id": update["id"],
        "status": update["status"],
        "type": "VersionUpdate",
        "params": [{"type": "Version", "value": update["version"]}],
        "createdAt": update["createdAt"],
        "errors": [],
    }


def _busy(cluster_name, nodegroup):
    return [
        u for u in UPDATES.values()
        if u["cluster"] == cluster_name and u["status"] == "InProgress"
        and (nodegroup is None or u["nodegroup"] in (None, nodegroup))
    ]


def _start(cluster, nodegroup, version, token, target):
    """Records an update (or returns the one `token` already started)."""
    key = (cluster.name, nodegroup, token)
    if token and key in TOKENS:
        return UPDATES[TOKENS[key]]
    if _busy(cluster.name, nodegroup):
        what = f"Nodegroup {nodegroup}" if nodegroup else f"Cluster {cluster.name}"
        raise eks_errors.ResourceInUseException(
            clusterName=cluster.name,
            nodegroupName=nodegroup,
            message=f"{what} has an update in progress",
        )
    update = {
        "id": str(uuid.uuid4()),
        "cluster": cluster.name,
        "nodegroup": nodegroup,
        "version": version,
        "status": "InProgress",
        "createdAt": _now(),
        "polls": SETTINGS["polls"],
        "target": target,
    }
    UPDATES[update["id"]] = update
    if token:
        TOKENS[key] = update["id"]
    target.status = "UPDATING"
    return update


def update_cluster_version(self):
    name = self._get_param("name")
    version = self._get_param("version")
    token = self._get_param("clientRequestToken")
    with LOCK:
        cluster = _cluster(self.eks_backend, name)
        if token and (name, None, token) in TOKENS:
            return ActionResult({"update": _view(UPDATES[TOKENS[(name, None, token)]])})
        if minor(version) != minor(cluster.version) + 1:
            raise eks_errors.InvalidParameterException(
                clusterName=name,
                message=f"Unsupported Kubernetes minor version update from {cluster.version} to {version}",
            )
        if SETTINGS["lag_rule"] == "strict":
            lagging = sorted(n for n, g in cluster.nodegroups.items() if g.version != cluster.version)
        else:
            lagging = sorted(n for n, g in cluster.nodegroups.items() if minor(g.version) < minor(version) - 3)
        if lagging:
            target = cluster.version if SETTINGS["lag_rule"] == "strict" else f"1.{minor(version) - 3}"
            raise eks_errors.InvalidParameterException(
                clusterName=name,
                message=f"Nodegroups {', '.join(lagging)} must be updated to match cluster version {target} before updating cluster version",
            )
        return ActionResult({"update": _view(_start(cluster, None, version, token, cluster))})


def update_nodegroup_version(self):
    name = self._get_param("clusterName") or self._get_param("name")
    nodegroup = self._get_param("nodegroupName")
    token = self._get_param("clientRequestToken")
    with LOCK:
        cluster = _cluster(self.eks_backend, name)
        group = _nodegroup(cluster, nodegroup)
        version = self._get_param("version") or cluster.version
        if token and (name, nodegroup, token) in TOKENS:
            return ActionResult({"update": _view(UPDATES[TOKENS[(name, nodegroup, token)]])})
        if _busy(name, None) and any(u["nodegroup"] is None for u in _busy(name, None)):
            raise eks_errors.ResourceInUseException(
                clusterName=name, nodegroupName=nodegroup,
                message=f"Cluster {name} has an update in progress",
            )
        if minor(version) > minor(cluster.version):
            raise eks_errors.InvalidParameterException(
                clusterName=name, nodegroupName=nodegroup,
                message=f"Requested Nodegroup Kubernetes version {version} is greater than the cluster version {cluster.version}",
            )
        return ActionResult({"update": _view(_start(cluster, nodegroup, version, token, group))})


def describe_update(self):
    name = self._get_param("name")
    update_id = self._get_param("updateId")
    nodegroup = self._get_param("nodegroupName")
    with LOCK:
        _cluster(self.eks_backend, name)
        update = UPDATES.get(update_id)
        if update is None or update["cluster"] != name or update["nodegroup"] != nodegroup:
            raise eks_errors.ResourceNotFoundException(
                clusterName=name, message=f"No update found for ID: {update_id}"
            )
        if update["status"] == "InProgress":
            update["polls"] -= 1
            if update["polls"] <= 0:
                update["status"] = "Successful"
                update["target"].version = update["version"]
                update["target"].status = "ACTIVE"
                if update["nodegroup"]:
                    update["target"].release_version = f"{update['version']}.0-20261101"
        return ActionResult({"update": _view(update)})


def list_updates(self):
    name = self._get_param("name")
    nodegroup = self._get_param("nodegroupName")
    with LOCK:
        _cluster(self.eks_backend, name)
        ids = [u["id"] for u in UPDATES.values() if u["cluster"] == name and u["nodegroup"] == nodegroup]
    return ActionResult({"updateIds": ids})


def describe_cluster_versions(self):
    rows = [
        {
            "clusterVersion": v,
            "clusterType": "eks",
            "releaseDate": datetime.fromisoformat(released).replace(tzinfo=timezone.utc),
            "endOfStandardSupportDate": datetime.fromisoformat(standard).replace(tzinfo=timezone.utc),
            "endOfExtendedSupportDate": datetime.fromisoformat(extended).replace(tzinfo=timezone.utc),
            "status": status,
            "versionStatus": status,
            "defaultVersion": v == "1.33",
        }
        for v, released, standard, extended, status in OFFERED
    ]
    return ActionResult({"clusterVersions": rows})


def list_addons(self):
    with LOCK:
        _cluster(self.eks_backend, self._get_param("name"))
    # No add-ons are installed on emulated clusters.
    return ActionResult({"addons": []})


def list_insights(self):
    with LOCK:
        _cluster(self.eks_backend, self._get_param("clusterName") or self._get_param("name"))
    # EKS computes insights from the cluster's audit logs; an emulated cluster has none.
    return ActionResult({"insights": []})


def install():
    EKSResponse.update_cluster_version = update_cluster_version
    EKSResponse.update_nodegroup_version = update_nodegroup_version
    EKSResponse.describe_update = describe_update
    EKSResponse.list_updates = list_updates
    EKSResponse.describe_cluster_versions = describe_cluster_versions
    EKSResponse.list_addons = list_addons
    EKSResponse.list_insights = list_insights
    dispatch = eks_urls.response.dispatch
    eks_urls.url_paths.update({
        "{0}/clusters/(?P<name>[^/]+)/updates$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$": dispatch,
        "{0}/cluster-versions$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/addons$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/insights$": dispatch,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--lag-rule", choices=["guide", "strict"], default="guide")
    parser.add_argument("--polls", type=int, default=2)
    args = parser.parse_args()
    SETTINGS["lag_rule"] = args.lag_rule
    SETTINGS["polls"] = args.polls
    install()
    app = Emulator(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
