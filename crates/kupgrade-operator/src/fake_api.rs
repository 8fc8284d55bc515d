//! An in-memory Kubernetes API server behind [`kube::Client`], the mock seam of the reconciler
//! tests and benchmarks: a small but real store, not a script of expected calls.
//!
//! [`FakeApi`] is a `tower::Service` that answers the requests `kube::Api` makes: get, list
//! (label and field selectors), create (`generateName` too), replace, patch (merge, strategic
//! and apply patches as JSON merge patches, JSON patches), delete (finalizers delay it), and
//! the `status` subresource. Objects are JSON values keyed by API prefix (`api/v1` or
//! `apis/{group}/{version}`), plural, namespace and name, so any resource works without
//! registration. Like the API server it sets `uid`, `creationTimestamp`, `generation` (bumped
//! when `.spec` changes) and `resourceVersion` (one counter for all objects; a write that
//! changes nothing keeps it), rejects stale `resourceVersion`s with 409 Conflict, and answers
//! errors as `Status` objects, so callers see the `kube::Error::Api` they would in production.
//!
//! Not served: watches (405; tests drive reconciles directly), server-side apply's field
//! ownership (an apply is a merge, so it never conflicts), strategic merge's list merge keys
//! (a strategic patch is a merge patch too), pagination (`limit` is ignored: everything fits
//! in one page), selectors other than `k=v` and `k` (400), `dryRun` (400).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Map, Value, json};

/// Plurals served with a `status` subresource (the kupgrade CRDs): writes to `.../status`
/// change only `.status`, writes to the object keep the stored `.status`. Every other plural
/// stores whole bodies, like core objects without a status (events, leases, secrets).
const STATUS_SUBRESOURCE: [&str; 4] = [
    "upgraderuns",
    "upgradestrategies",
    "upgradeapprovals",
    "managedclusterrefs",
];

/// API prefix (`api/v1`, `apis/{group}/{version}`), plural, namespace (none when cluster-scoped)
/// and name of a stored object.
type ObjectKey = (String, String, Option<String>, String);

fn object_key(prefix: &str, plural: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
    (
        prefix.to_owned(),
        plural.to_owned(),
        namespace.map(str::to_owned),
        name.to_owned(),
    )
}

/// An in-memory Kubernetes API server; clones share the same objects. See the module
/// documentation for what it serves.
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    /// Set for a client cut off from the server ([`FakeApi::cuttable_client`]).
    cut: Option<Arc<AtomicBool>>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<ObjectKey, Value>,
    /// The last `resourceVersion` given out.
    resource_version: u64,
    /// Objects created so far (numbers the `uid`s and `generateName` suffixes).
    created: u64,
    /// Requests received, by method, plural and whether they addressed `status`.
    requests: BTreeMap<(String, String, bool), usize>,
    faults: Vec<Fault>,
    offline: bool,
}

/// The next `remaining` requests with `method` on `plural` fail with `code`.
struct Fault {
    method: String,
    plural: String,
    code: u16,
    remaining: usize,
}

impl FakeApi {
    /// An empty API server, online.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client whose every request this server answers (default namespace `default`).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (the client spawns its request buffer).
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Stores `object` as an administrator would, bypassing the request path: the whole body
    /// is kept, `.status` included, and no request is counted. `prefix` is `api/v1` or
    /// `apis/{group}/{version}`; `namespace` (none for cluster-scoped objects) overrides
    /// `metadata.namespace`. Server-set metadata is filled in as for a request (an existing
    /// object keeps its `uid`, and its `generation` grows if `.spec` changed). Returns the
    /// stored object.
    ///
    /// # Panics
    ///
    /// When `object` is not a JSON object with a string `metadata.name`.
    pub fn insert(&self, prefix: &str, plural: &str, namespace: Option<&str>, object: Value) -> Value {
        let mut object = checked_object(object).unwrap_or_else(|f| panic!("FakeApi::insert: {}", f.message));
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("FakeApi::insert: the object has no metadata.name"))
            .to_owned();
        let key = object_key(prefix, plural, namespace, &name);
        let mut state = self.state();
        if let Some(previous) = state.objects.get(&key) {
            keep_server_fields(previous, &mut object);
        }
        state.store(key, object)
    }

    /// The stored object, if any.
    pub fn get(&self, prefix: &str, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.state()
            .objects
            .get(&object_key(prefix, plural, namespace, name))
            .cloned()
    }

    /// Every stored object of `plural` under `prefix`, in all namespaces, ordered by namespace
    /// and name.
    pub fn list(&self, prefix: &str, plural: &str) -> Vec<Value> {
        let state = self.state();
        state
            .collection(prefix, plural)
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// How many requests with `method` (`GET`, `PUT`, ...) on `plural` reached the server,
    /// on the `status` subresource or on the object itself; injected failures count, requests
    /// refused while offline do not.
    pub fn count(&self, method: &str, plural: &str, status_subresource: bool) -> usize {
        let key = (method.to_ascii_uppercase(), plural.to_owned(), status_subresource);
        self.state().requests.get(&key).copied().unwrap_or(0)
    }

    /// Makes the next `n` requests with `method` on `plural` (object or subresource, any
    /// namespace) fail with the error `code` (a 4xx or 5xx) and a `Status` body, without
    /// touching the store.
    pub fn fail_next(&self, n: usize, method: &str, plural: &str, code: u16) {
        if n > 0 {
            self.state().faults.push(Fault {
                method: method.to_ascii_uppercase(),
                plural: plural.to_owned(),
                code,
                remaining: n,
            });
        }
    }

    /// A client that can be cut off from the server alone (a network partition of one
    /// replica): while the returned flag is `true`, its requests fail with 503 and never reach
    /// the store, while other clients go on.
    pub fn cuttable_client(&self) -> (kube::Client, Arc<AtomicBool>) {
        let cut = Arc::new(AtomicBool::new(false));
        let api = FakeApi {
            state: self.state.clone(),
            cut: Some(cut.clone()),
        };
        (kube::Client::new(api, "default"), cut)
    }

    /// While `offline`, every request fails with 503 ServiceUnavailable, as when the API
    /// server cannot be reached.
    pub fn set_offline(&self, offline: bool) {
        self.state().offline = offline;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, parts: &http::request::Parts, body: &[u8]) -> Result<(StatusCode, Value), Failure> {
        if self.cut.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
            return Err(Failure::new(503, "this client is cut off from FakeApi"));
        }
        let mut state = self.state();
        if state.offline {
            return Err(Failure::new(503, "FakeApi is offline"));
        }
        let path = parts.uri.path();
        let target = Target::parse(path).ok_or_else(|| {
            Failure::new(
                404,
                format!("the server could not find the requested resource ({path})"),
            )
        })?;
        state.record(&parts.method, &target)?;
        let query: HashMap<String, String> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        if query.contains_key("dryRun") {
            return Err(Failure::new(400, "dryRun is not served by FakeApi"));
        }
        if target.status && !STATUS_SUBRESOURCE.contains(&target.plural.as_str()) {
            return Err(Failure::new(
                404,
                format!("{} has no status subresource", target.plural),
            ));
        }
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim();
        let ok = |object| Ok((StatusCode::OK, object));
        match (&parts.method, target.name.as_deref()) {
            (&Method::GET, None) if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) => {
                Err(Failure::new(405, "watches are not served by FakeApi"))
            }
            (&Method::GET, None) => ok(state.list(&target, &query)?),
            (&Method::GET, Some(name)) => {
                let key = target.key(name);
                state
                    .objects
                    .get(&key)
                    .cloned()
                    .map_or_else(|| Err(target.not_found(name)), ok)
            }
            (&Method::POST, None) => Ok((StatusCode::CREATED, state.create(&target, parse_json(body)?)?)),
            (&Method::PUT, Some(name)) => {
                ok(state.update(&target, name, checked_object(parse_json(body)?)?)?)
            }
            (&Method::PATCH, Some(name)) => state.patch(&target, name, content_type, parse_json(body)?),
            (&Method::DELETE, Some(name)) if !target.status => ok(state.delete(&target, name)?),
            (method, _) => Err(Failure::new(405, format!("{method} is not served on {path}"))),
        }
    }
}

impl tower::Service<Request<Body>> for FakeApi {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let outcome = match body.collect().await {
                Ok(body) => api.handle(&parts, &body.to_bytes()),
                Err(e) => Err(Failure::new(400, format!("unreadable request body: {e}"))),
            };
            let (code, body) = match outcome {
                Ok(answer) => answer,
                Err(failure) => (
                    StatusCode::from_u16(failure.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    failure.status(),
                ),
            };
            let mut response = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
            *response.status_mut() = code;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        })
    }
}

/// What a request path addresses.
struct Target {
    prefix: String,
    plural: String,
    /// None for cluster-scoped objects, and for lists across all namespaces.
    namespace: Option<String>,
    /// None for the collection.
    name: Option<String>,
    /// The `status` subresource.
    status: bool,
}

impl Target {
    /// Parses `/api/v1[/namespaces/{ns}]/{plural}[/{name}[/status]]` and the same under
    /// `/apis/{group}/{version}`.
    fn parse(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        let (prefix, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => (format!("api/{version}"), rest),
            ["apis", group, version, rest @ ..] => (format!("apis/{group}/{version}"), rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(namespace.to_string()), rest),
            _ => (None, rest),
        };
        let (plural, name, status) = match rest {
            [plural] => (plural, None, false),
            [plural, name] => (plural, Some(name.to_string()), false),
            [plural, name, "status"] => (plural, Some(name.to_string()), true),
            _ => return None,
        };
        Some(Self {
            prefix,
            plural: plural.to_string(),
            namespace,
            name,
            status,
        })
    }

    fn key(&self, name: &str) -> ObjectKey {
        object_key(&self.prefix, &self.plural, self.namespace.as_deref(), name)
    }

    fn not_found(&self, name: &str) -> Failure {
        Failure::new(404, format!("{} \"{name}\" not found", self.plural))
    }

    /// 400 when `object` names another object than the path.
    fn check_identity(&self, name: Option<&str>, object: &Value) -> Result<(), Failure> {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .filter(|ns| !ns.is_empty());
        if namespace.is_some() && namespace != self.namespace.as_deref() {
            return Err(Failure::new(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        match (name, object["metadata"]["name"].as_str()) {
            (Some(expected), Some(actual)) if expected != actual => Err(Failure::new(
                400,
                "the name of the object does not match the name on the URL",
            )),
            _ => Ok(()),
        }
    }
}

impl State {
    /// Counts the request, then fails it if a fault is armed for it.
    fn record(&mut self, method: &Method, target: &Target) -> Result<(), Failure> {
        let key = (method.as_str().to_owned(), target.plural.clone(), target.status);
        *self.requests.entry(key).or_default() += 1;
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.method == method.as_str() && f.plural == target.plural);
        let Some(fault) = fault else { return Ok(()) };
        fault.remaining -= 1;
        let code = fault.code;
        self.faults.retain(|f| f.remaining > 0);
        Err(Failure::new(
            code,
            format!("injected failure of {method} on {}", target.plural),
        ))
    }

    fn collection<'a>(
        &'a self,
        prefix: &'a str,
        plural: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> {
        let start = (prefix.to_owned(), plural.to_owned(), None, String::new());
        self.objects
            .range(start..)
            .take_while(move |(key, _)| key.0 == prefix && key.1 == plural)
    }

    fn next_resource_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Commits `object` under `key` as the API server does: a new object gets a `uid`,
    /// `creationTimestamp` and generation 1; a changed one a higher `generation` if its
    /// `.spec` changed; both a new `resourceVersion`. An unchanged object is not written. A
    /// deleted object whose last finalizer went is removed. Returns the object as stored.
    fn store(&mut self, key: ObjectKey, mut object: Value) -> Value {
        object["metadata"]["name"] = json!(key.3);
        set_field(
            &mut object["metadata"],
            "namespace",
            key.2.clone().map(Value::String),
        );
        match self.objects.get(&key) {
            Some(previous) if *previous == object => return object,
            Some(previous) => {
                if previous.get("spec") != object.get("spec") {
                    let generation = previous["metadata"]["generation"].as_u64().unwrap_or(0);
                    object["metadata"]["generation"] = json!(generation + 1);
                }
            }
            None => {
                self.created += 1;
                let metadata = &mut object["metadata"];
                metadata["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", self.created));
                metadata["creationTimestamp"] = json!(now());
                metadata["generation"] = json!(1);
                set_field(metadata, "deletionTimestamp", None);
            }
        }
        object["metadata"]["resourceVersion"] = json!(self.next_resource_version());
        if object["metadata"].get("deletionTimestamp").is_some() && !has_finalizers(&object) {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, object.clone());
        }
        object
    }

    fn list(&self, target: &Target, query: &HashMap<String, String>) -> Result<Value, Failure> {
        let labels = parse_selector(query.get("labelSelector").map_or("", String::as_str))?;
        let fields = parse_selector(query.get("fieldSelector").map_or("", String::as_str))?;
        if fields.iter().any(|(_, value)| value.is_none()) {
            return Err(Failure::new(400, "a field selector term compares: field=value"));
        }
        let mut collection = self.collection(&target.prefix, &target.plural).peekable();
        let kind = collection
            .peek()
            .and_then(|(_, object)| object["kind"].as_str())
            .map_or_else(|| "List".to_owned(), |kind| format!("{kind}List"));
        let items: Vec<Value> = collection
            .filter(|(key, _)| target.namespace.is_none() || key.2 == target.namespace)
            .filter(|(_, object)| {
                let object_labels = &object["metadata"]["labels"];
                labels.iter().all(|r| matches(r, object_labels[&r.0].as_str()))
                    && fields.iter().all(|r| matches(r, field(object, &r.0)))
            })
            .map(|(_, object)| object.clone())
            .collect();
        Ok(json!({
            "apiVersion": api_version(&target.prefix),
            "kind": kind,
            "metadata": {"resourceVersion": self.resource_version.to_string()},
            "items": items,
        }))
    }

    fn create(&mut self, target: &Target, object: Value) -> Result<Value, Failure> {
        let mut object = checked_object(object)?;
        target.check_identity(None, &object)?;
        let name = match (
            object["metadata"]["name"].as_str(),
            object["metadata"]["generateName"].as_str(),
        ) {
            (Some(name), _) => name.to_owned(),
            (None, Some(prefix)) => format!("{prefix}{:05x}", self.created + 1),
            (None, None) => {
                return Err(Failure::new(
                    422,
                    "metadata.name or metadata.generateName is required",
                ));
            }
        };
        let key = target.key(&name);
        if self.objects.contains_key(&key) {
            return Err(Failure {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{} \"{name}\" already exists", target.plural),
            });
        }
        if object.get("apiVersion").is_none() {
            object["apiVersion"] = json!(api_version(&target.prefix));
        }
        if STATUS_SUBRESOURCE.contains(&target.plural.as_str()) {
            set_field(&mut object, "status", None);
        }
        Ok(self.store(key, object))
    }

    /// Replaces the object `name` with `candidate` (a PUT body, or the stored object with a
    /// patch applied), through the `status` subresource or not.
    fn update(&mut self, target: &Target, name: &str, candidate: Value) -> Result<Value, Failure> {
        target.check_identity(Some(name), &candidate)?;
        let key = target.key(name);
        let stored = self.objects.get(&key).ok_or_else(|| target.not_found(name))?;
        let expected = candidate["metadata"]["resourceVersion"]
            .as_str()
            .filter(|rv| !rv.is_empty());
        if expected.is_some_and(|rv| Some(rv) != stored["metadata"]["resourceVersion"].as_str()) {
            let plural = &target.plural;
            let message =
                format!("Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified");
            return Err(Failure::new(409, message));
        }
        let mut next = candidate;
        if target.status {
            let status = next.get_mut("status").map(Value::take);
            next = stored.clone();
            set_field(&mut next, "status", status);
        } else if STATUS_SUBRESOURCE.contains(&target.plural.as_str()) {
            set_field(&mut next, "status", stored.get("status").cloned());
        }
        keep_server_fields(stored, &mut next);
        Ok(self.store(key, next))
    }

    fn patch(
        &mut self,
        target: &Target,
        name: &str,
        content_type: &str,
        patch: Value,
    ) -> Result<(StatusCode, Value), Failure> {
        const APPLY: &str = "application/apply-patch+yaml";
        let Some(stored) = self.objects.get(&target.key(name)) else {
            // Server-side apply creates what does not exist yet.
            if content_type != APPLY || target.status {
                return Err(target.not_found(name));
            }
            let mut object = Value::Null;
            merge(&mut object, &patch);
            let mut object = checked_object(object)?;
            target.check_identity(Some(name), &object)?;
            object["metadata"]["name"] = json!(name);
            return Ok((StatusCode::CREATED, self.create(target, object)?));
        };
        let mut candidate = stored.clone();
        match content_type {
            "application/merge-patch+json" | "application/strategic-merge-patch+json" | APPLY => {
                merge(&mut candidate, &patch)
            }
            "application/json-patch+json" => json_patch(&mut candidate, &patch)?,
            other => {
                let message = format!("the patch content type {other:?} is not served by FakeApi");
                return Err(Failure::new(415, message));
            }
        }
        Ok((
            StatusCode::OK,
            self.update(target, name, checked_object(candidate)?)?,
        ))
    }

    /// Deletes the object, or marks it deleted (`deletionTimestamp`) while it has finalizers.
    fn delete(&mut self, target: &Target, name: &str) -> Result<Value, Failure> {
        let key = target.key(name);
        let stored = self.objects.get(&key).ok_or_else(|| target.not_found(name))?;
        let mut object = stored.clone();
        if has_finalizers(&object) {
            if object["metadata"].get("deletionTimestamp").is_none() {
                object["metadata"]["deletionTimestamp"] = json!(now());
                object = self.store(key, object);
            }
            return Ok(object);
        }
        self.objects.remove(&key);
        object["metadata"]["resourceVersion"] = json!(self.next_resource_version());
        Ok(object)
    }
}

/// A selector term: the key, and the value it must equal (none: the key must exist).
type Requirement = (String, Option<String>);

fn matches((_, expected): &Requirement, value: Option<&str>) -> bool {
    value.is_some() && expected.as_deref().is_none_or(|expected| value == Some(expected))
}

/// Parses comma-separated `k=v`, `k==v` and `k` terms.
fn parse_selector(selector: &str) -> Result<Vec<Requirement>, Failure> {
    let mut requirements = Vec::new();
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if term.contains(['!', '(', ' ']) {
            return Err(Failure::new(
                400,
                format!("selector {term:?} is not served by FakeApi"),
            ));
        }
        let requirement = match term.split_once("==").or_else(|| term.split_once('=')) {
            Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
            None => (term.to_owned(), None),
        };
        if requirement.0.is_empty() {
            return Err(Failure::new(400, format!("selector term {term:?} has no key")));
        }
        requirements.push(requirement);
    }
    Ok(requirements)
}

/// The string at a dotted field path such as `metadata.name`.
fn field<'a>(object: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(object, |value, key| value.get(key))?
        .as_str()
}

/// JSON merge patch (RFC 7386): objects merge key by key, `null` removes, anything else
/// replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.as_str()).or_insert(Value::Null), value);
            }
        }
    }
}

/// JSON patch (RFC 6902) operations add, remove, replace and test (others: 400); a failed
/// `test` is 422 Invalid. As in the API server, testing a missing path against `null` passes.
fn json_patch(document: &mut Value, patch: &Value) -> Result<(), Failure> {
    let operations = patch
        .as_array()
        .ok_or_else(|| Failure::new(400, "a JSON patch is an array of operations"))?;
    for operation in operations {
        let path = operation["path"]
            .as_str()
            .ok_or_else(|| Failure::new(400, "a JSON patch operation needs a string path"))?;
        let value = || {
            operation
                .get("value")
                .cloned()
                .ok_or_else(|| Failure::new(400, "missing value"))
        };
        match operation["op"].as_str() {
            Some("add") => pointer_add(document, path, value()?)?,
            Some("remove") => pointer_remove(document, path)?,
            Some("replace") => {
                *document
                    .pointer_mut(path)
                    .ok_or_else(|| Failure::new(422, format!("replace: no value at {path:?}")))? = value()?
            }
            Some("test") => {
                let expected = value()?;
                let actual = document.pointer(path);
                if actual.unwrap_or(&Value::Null) != &expected {
                    return Err(Failure::new(422, format!("test operation failed at {path:?}")));
                }
            }
            op => {
                return Err(Failure::new(400, format!("unknown JSON patch operation {op:?}")));
            }
        }
    }
    Ok(())
}

/// The parent pointer and the unescaped last token of a non-empty JSON pointer.
fn split_pointer(path: &str) -> Result<(&str, String), Failure> {
    let (parent, token) = path
        .rsplit_once('/')
        .ok_or_else(|| Failure::new(422, format!("{path:?} is not a JSON pointer")))?;
    Ok((parent, token.replace("~1", "/").replace("~0", "~")))
}

/// An array index of a JSON pointer token, below `bound`.
fn array_index(token: &str, bound: usize) -> Result<usize, Failure> {
    let canonical = token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
    token
        .parse()
        .ok()
        .filter(|&index| canonical && index < bound)
        .ok_or_else(|| Failure::new(422, format!("array index {token:?} is out of bounds")))
}

fn pointer_add(document: &mut Value, path: &str, value: Value) -> Result<(), Failure> {
    if path.is_empty() {
        *document = value;
        return Ok(());
    }
    let (parent, token) = split_pointer(path)?;
    match document.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
        }
        Some(Value::Array(items)) => {
            let index = if token == "-" {
                items.len()
            } else {
                array_index(&token, items.len() + 1)?
            };
            items.insert(index, value);
        }
        _ => {
            return Err(Failure::new(
                422,
                format!("add: no object or array at {parent:?}"),
            ));
        }
    }
    Ok(())
}

fn pointer_remove(document: &mut Value, path: &str) -> Result<(), Failure> {
    let (parent, token) = split_pointer(path)?;
    let removed = match document.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token).is_some(),
        Some(Value::Array(items)) => {
            items.remove(array_index(&token, items.len())?);
            true
        }
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err(Failure::new(422, format!("remove: no value at {path:?}")))
    }
}

/// Copies from `previous` the metadata only the server sets, which writes cannot change.
fn keep_server_fields(previous: &Value, object: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "generation",
        "resourceVersion",
        "deletionTimestamp",
    ] {
        set_field(
            &mut object["metadata"],
            field,
            previous["metadata"].get(field).cloned(),
        );
    }
}

/// Sets `object[field]` to `value`, or removes it.
fn set_field(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(value) => map.insert(field.to_owned(), value),
            None => map.remove(field),
        };
    }
}

fn has_finalizers(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

fn parse_json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::new(400, format!("the body is not JSON: {e}")))
}

/// `object` with an empty `metadata` if it had none; 400 unless both are JSON objects (so that
/// indexing into `metadata` cannot panic).
fn checked_object(mut object: Value) -> Result<Value, Failure> {
    let Some(map) = object.as_object_mut() else {
        return Err(Failure::new(400, "the body must be a JSON object"));
    };
    match map.entry("metadata").or_insert_with(|| json!({})) {
        Value::Object(_) => Ok(object),
        _ => Err(Failure::new(400, "metadata must be a JSON object")),
    }
}

/// `v1` for `api/v1`, `{group}/{version}` for `apis/{group}/{version}`.
fn api_version(prefix: &str) -> &str {
    prefix
        .strip_prefix("apis/")
        .or_else(|| prefix.strip_prefix("api/"))
        .unwrap_or(prefix)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An error answer, sent as a Kubernetes `Status`.
struct Failure {
    code: u16,
    reason: &'static str,
    message: String,
}

impl Failure {
    /// A failure with the API server's reason for `code`.
    fn new(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        };
        Self {
            code,
            reason,
            message: message.into(),
        }
    }

    fn status(&self) -> Value {
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Api;
    use kube::api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
        PostParams,
    };

    fn config_map(name: &str, labels: Value) -> ConfigMap {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "data": {"key": "value"},
        }))
        .unwrap()
    }

    fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
        match result {
            Err(kube::Error::Api(status)) => (status.code, status.reason.clone()),
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn config_maps_create_get_list_replace_delete() {
        let fake = FakeApi::new();
        let api = Api::<ConfigMap>::namespaced(fake.client(), "apps");
        let pp = PostParams::default();
        let web = api
            .create(&pp, &config_map("web", json!({"app": "web", "tier": "front"})))
            .await
            .unwrap();
        api.create(&pp, &config_map("db", json!({"app": "db"})))
            .await
            .unwrap();
        Api::<ConfigMap>::namespaced(fake.client(), "other")
            .create(&pp, &config_map("web", json!({"app": "web"})))
            .await
            .unwrap();
        assert_eq!(web.metadata.namespace.as_deref(), Some("apps"));
        assert_eq!(web.metadata.generation, Some(1));
        assert!(web.metadata.uid.is_some() && web.metadata.creation_timestamp.is_some());
        assert_eq!(
            api_error(api.create(&pp, &web).await),
            (409, "AlreadyExists".into())
        );
        assert_eq!(api_error(api.get("missing").await), (404, "NotFound".into()));
        assert!(api.get_opt("missing").await.unwrap().is_none());

        let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
            list.items.into_iter().map(|c| c.metadata.name.unwrap()).collect()
        };
        let select = |labels: &str| ListParams::default().labels(labels);
        assert_eq!(names(api.list(&select("app=web")).await.unwrap()), ["web"]);
        assert_eq!(names(api.list(&select("tier")).await.unwrap()), ["web"]);
        assert_eq!(names(api.list(&select("app,tier=front")).await.unwrap()), ["web"]);
        let by_name = ListParams::default().fields("metadata.name=db");
        assert_eq!(names(api.list(&by_name).await.unwrap()), ["db"]);
        let everywhere = Api::<ConfigMap>::all(fake.client())
            .list(&select("app=web"))
            .await
            .unwrap();
        assert_eq!(everywhere.items.len(), 2);
        assert_eq!(api_error(api.list(&select("app!=web")).await).0, 400);

        let mut changed = web.clone();
        changed.data = Some([("key".to_owned(), "new".to_owned())].into());
        let replaced = api.replace("web", &pp, &changed).await.unwrap();
        assert_ne!(replaced.metadata.resource_version, web.metadata.resource_version);
        assert_eq!(
            api_error(api.replace("web", &pp, &changed).await),
            (409, "Conflict".into())
        );
        let unchanged = api.replace("web", &pp, &replaced).await.unwrap();
        assert_eq!(
            unchanged.metadata.resource_version,
            replaced.metadata.resource_version
        );

        api.delete("web", &DeleteParams::default()).await.unwrap();
        assert!(api.get_opt("web").await.unwrap().is_none());
        assert_eq!(fake.list("api/v1", "configmaps").len(), 2);
        assert_eq!(fake.count("POST", "configmaps", false), 4);
    }

    #[tokio::test]
    async fn patches_merge_json_and_generate_names() {
        let fake = FakeApi::new();
        let api = Api::<ConfigMap>::namespaced(fake.client(), "default");
        let generated: ConfigMap =
            serde_json::from_value(json!({"metadata": {"generateName": "cm-"}})).unwrap();
        let created = api.create(&PostParams::default(), &generated).await.unwrap();
        let name = created.metadata.name.unwrap();
        assert!(name.starts_with("cm-") && name.len() == 8, "{name}");

        let pp = PatchParams::default();
        let merge = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "y"}});
        api.patch(&name, &pp, &Patch::Merge(&merge)).await.unwrap();
        let remove_b = json!({"metadata": {"labels": {"b": null}}});
        let merged = api.patch(&name, &pp, &Patch::Merge(&remove_b)).await.unwrap();
        assert_eq!(
            merged.metadata.labels,
            Some([("a".to_owned(), "1".to_owned())].into())
        );

        // The finalizer dance of kube-runtime: add with a test, delete, remove the last one.
        let add: json_patch::Patch = serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["kupgrade.io/run"]},
        ]))
        .unwrap();
        api.patch(&name, &pp, &Patch::Json::<()>(add.clone()))
            .await
            .unwrap();
        assert_eq!(
            api_error(api.patch(&name, &pp, &Patch::Json::<()>(add)).await),
            (422, "Invalid".into())
        );
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        let deleting = api.get(&name).await.unwrap();
        assert!(deleting.metadata.deletion_timestamp.is_some());
        let remove: json_patch::Patch = serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "kupgrade.io/run"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ]))
        .unwrap();
        api.patch(&name, &pp, &Patch::Json::<()>(remove)).await.unwrap();
        assert!(api.get_opt(&name).await.unwrap().is_none());
        assert_eq!(
            api_error(api.patch(&name, &pp, &Patch::Merge(&merge)).await).0,
            404
        );
    }

    #[tokio::test]
    async fn status_subresource_is_separate_from_the_object() {
        let fake = FakeApi::new();
        let gvk = GroupVersionKind::gvk("kupgrade.io", "v1alpha1", "UpgradeRun");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "upgraderuns");
        let api = Api::<DynamicObject>::namespaced_with(fake.client(), "fleet", &resource);
        let pp = PostParams::default();
        let mut run = DynamicObject::new("to-1-32", &resource);
        run.data = json!({"spec": {"targetVersion": "1.31"}, "status": {"phase": "Succeeded"}});
        let created = api.create(&pp, &run).await.unwrap();
        assert_eq!(created.data.get("status"), None, "create ignores the status");

        let mut replaced = created.clone();
        replaced.data = json!({"spec": {"targetVersion": "1.32"}, "status": {"phase": "Failed"}});
        let replaced = api.replace("to-1-32", &pp, &replaced).await.unwrap();
        assert_eq!(replaced.metadata.generation, Some(2));
        assert_eq!(
            replaced.data.get("status"),
            None,
            "the object's writes keep the status"
        );

        let mut status = replaced.clone();
        status.data = json!({"spec": {"targetVersion": "9.99"}, "status": {"phase": "Running"}});
        let written = api.replace_status("to-1-32", &pp, &status).await.unwrap();
        assert_eq!(written.data["spec"]["targetVersion"], "1.32");
        assert_eq!(written.data["status"]["phase"], "Running");
        assert_eq!(written.metadata.generation, Some(2));
        let stale = api.replace_status("to-1-32", &pp, &status).await;
        assert_eq!(api_error(stale).0, 409);

        let patch = Patch::Merge(json!({"status": {"progress": "1/2"}}));
        let patched = api
            .patch_status("to-1-32", &PatchParams::default(), &patch)
            .await
            .unwrap();
        assert_eq!(
            patched.data["status"],
            json!({"phase": "Running", "progress": "1/2"})
        );
        assert_eq!(fake.count("PUT", "upgraderuns", true), 2);
        assert_eq!(fake.count("PATCH", "upgraderuns", true), 1);
        let stored = fake
            .get(
                "apis/kupgrade.io/v1alpha1",
                "upgraderuns",
                Some("fleet"),
                "to-1-32",
            )
            .unwrap();
        assert_eq!(stored["status"]["progress"], "1/2");
    }

    #[tokio::test]
    async fn faults_offline_and_watches() {
        let fake = FakeApi::new();
        fake.insert(
            "api/v1",
            "configmaps",
            Some("default"),
            json!({"metadata": {"name": "a"}}),
        );
        let api = Api::<ConfigMap>::default_namespaced(fake.client());
        fake.fail_next(1, "get", "configmaps", 500);
        assert_eq!(api_error(api.get("a").await), (500, "InternalError".into()));
        api.get("a").await.unwrap();
        fake.set_offline(true);
        assert_eq!(api_error(api.get("a").await), (503, "ServiceUnavailable".into()));
        fake.set_offline(false);
        assert_eq!(fake.count("GET", "configmaps", false), 2);
        let watch = http::Request::get("/api/v1/namespaces/default/configmaps?watch=true")
            .body(vec![])
            .unwrap();
        assert_eq!(
            api_error(fake.client().request_text(watch).await),
            (405, "MethodNotAllowed".into())
        );
    }

    #[tokio::test]
    async fn apply_creates_and_merges_leases() {
        let fake = FakeApi::new();
        let api = Api::<Lease>::namespaced(fake.client(), "ops");
        let pp = PatchParams::apply("test").force();
        let apply = |holder: &str| {
            let spec = json!({"holderIdentity": holder});
            Patch::Apply(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": spec}))
        };
        api.patch("l", &pp, &apply("a")).await.unwrap();
        let strategic = Patch::Strategic(json!({"spec": {"leaseDurationSeconds": 15}}));
        api.patch("l", &PatchParams::default(), &strategic).await.unwrap();
        let lease = api.patch("l", &pp, &apply("b")).await.unwrap().spec.unwrap();
        assert_eq!(
            (lease.holder_identity.as_deref(), lease.lease_duration_seconds),
            (Some("b"), Some(15))
        );
        assert_eq!(fake.list("apis/coordination.k8s.io/v1", "leases").len(), 1);
    }
}
