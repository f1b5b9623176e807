//! A small, honest stand-in for the Kubernetes API server, for tests: plain HTTP/1.1 on
//! loopback, serving list responses (`{kind}List` with `metadata.resourceVersion`) and
//! watch streams (`?watch=true&resourceVersion=N`: one JSON `WatchEvent` per line) of
//! real serialized objects, with scripted watch sessions: events, a stream that ends, or
//! an `ERROR` event with `410 Gone` (expired resourceVersion). Events the client creates
//! (`events.k8s.io/v1`) are recorded. [`FakeApi::stop`] and [`FakeApi::restart`] imitate
//! an API server going away (open streams cut, connections refused) and coming back on
//! the same address.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use kube::api::ApiResource;
use serde_json::{Value, json};
use tokio::sync::watch;

/// One step of a scripted watch session.
pub enum Step {
    /// `ADDED`, `MODIFIED` or `DELETED` with this object (a fresh resourceVersion is set).
    Event(&'static str, Value),
    /// `ERROR` with a `410 Gone` Status: the client's resourceVersion is too old.
    Gone,
}

/// A scripted watch response; after its steps the stream ends (`end`) or stays open.
pub struct Session {
    pub steps: Vec<Step>,
    pub end: bool,
}

#[derive(Default)]
struct Collection {
    resource: Option<ApiResource>,
    items: Vec<Value>,
    /// Lists to serve, in order; the last one repeats (the current state otherwise).
    lists: VecDeque<Vec<Value>>,
    sessions: VecDeque<Session>,
}

/// A served request: path, query and when it arrived.
#[derive(Clone, Debug)]
pub struct Served {
    pub path: String,
    pub query: String,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    collections: HashMap<String, Collection>,
    rv: u64,
    log: Vec<Served>,
    /// Bodies of the Events created (POST) or updated (PATCH).
    events: Vec<Value>,
}

/// The running fake API server.
pub struct FakeApi {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    gate: watch::Sender<bool>,
    gate_rx: watch::Receiver<bool>,
    /// The accept loop and every connection task (aborted by [`FakeApi::stop`]).
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// The listener of [`FakeApi::stall`] and the connections that fill its queue.
    stalled: Mutex<Vec<socket2::Socket>>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop();
    }
}

/// URL path of the collection of `ar` across all namespaces.
pub fn collection_path(ar: &ApiResource) -> String {
    if ar.group.is_empty() {
        format!("/api/{}/{}", ar.version, ar.plural)
    } else {
        format!("/apis/{}/{}/{}", ar.group, ar.version, ar.plural)
    }
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (gate, gate_rx) = watch::channel(false);
        let api = FakeApi {
            addr,
            inner: Arc::new(Mutex::new(Inner::default())),
            gate,
            gate_rx,
            tasks: Arc::default(),
            stalled: Mutex::default(),
        };
        api.serve_on(listener);
        api
    }

    fn serve_on(&self, listener: tokio::net::TcpListener) {
        let (state, gate_rx, tasks) =
            (self.inner.clone(), self.gate_rx.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (state, gate_rx) = (state.clone(), gate_rx.clone());
                let conn = tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (state, gate_rx) = (state.clone(), gate_rx.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok::<_, Infallible>(serve(&state, gate_rx, &parts, &body))
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Go away: cut every open connection (watch streams end mid-way) and refuse new
    /// ones, as an API server does at the end of a graceful shutdown.
    pub fn stop(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// After [`FakeApi::stop`]: keep the address taken by a listener that never accepts and
    /// whose accept queue is full, so a connection attempt hangs (its SYNs are dropped), as
    /// against an API server whose Service address no longer answers. Until `restart`.
    pub async fn stall(&self) {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.set_reuse_address(true).unwrap();
        // The aborted accept loop drops its listener a moment later.
        let mut tries = 0;
        while let Err(e) = listener.bind(&self.addr.into()) {
            tries += 1;
            assert!(tries < 100, "stall: bind {}: {e}", self.addr);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        listener.listen(0).unwrap();
        let mut held = vec![listener];
        // A backlog of 0 queues one connection; a few more make sure the queue is full.
        for _ in 0..3 {
            let filler = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            filler.set_nonblocking(true).unwrap();
            let _ = filler.connect(&self.addr.into());
            held.push(filler);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        *self.stalled.lock().unwrap() = held;
    }

    /// Answer again on the same address.
    pub async fn restart(&self) {
        self.stalled.lock().unwrap().clear();
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve_on(listener);
    }

    /// Events the client created or updated, in order.
    pub fn events(&self) -> Vec<Value> {
        self.inner.lock().unwrap().events.clone()
    }

    /// Serve `lists` (one per list request, the last repeating) and then `sessions` for
    /// the collection of `ar`.
    pub fn script(&self, ar: &ApiResource, lists: Vec<Vec<Value>>, sessions: Vec<Session>) {
        let mut inner = self.inner.lock().unwrap();
        let c = inner.collections.entry(collection_path(ar)).or_default();
        c.resource = Some(ar.clone());
        c.lists = lists.into();
        c.sessions = sessions.into();
    }

    /// Watch streams send nothing until this is called (so a test sees the listed state
    /// first, deterministically).
    pub fn release_watches(&self) {
        self.gate.send_replace(true);
    }

    pub fn served(&self) -> Vec<Served> {
        self.inner.lock().unwrap().log.clone()
    }

    /// Scripted watch sessions not yet served, over all collections.
    pub fn sessions_left(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.collections.values().map(|c| c.sessions.len()).sum()
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: StatusCode, v: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(v.to_string())).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn stamp(rv: &mut u64, obj: &Value) -> Value {
    *rv += 1;
    let mut obj = obj.clone();
    obj["metadata"]["resourceVersion"] = rv.to_string().into();
    obj
}

fn serve(
    inner: &Mutex<Inner>,
    mut gate: watch::Receiver<bool>,
    req: &hyper::http::request::Parts,
    body: &[u8],
) -> Response<Body> {
    let path = req.uri.path().to_owned();
    let query = req.uri.query().unwrap_or_default().to_owned();
    let mut guard = inner.lock().unwrap();
    let inner = &mut *guard;
    inner.log.push(Served {
        path: path.clone(),
        query: query.clone(),
        at: std::time::Instant::now(),
    });
    if path.starts_with("/apis/events.k8s.io/v1/namespaces/") {
        let event: Value = serde_json::from_slice(body).unwrap_or_default();
        inner.events.push(event.clone());
        let status = if req.method == hyper::Method::POST {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return full(status, &event);
    }
    if req.method != hyper::Method::GET {
        return full(StatusCode::METHOD_NOT_ALLOWED, &json!({}));
    }
    // A single object: `<collection>/<name>` or `.../namespaces/<ns>/<plural>/<name>`.
    if let Some(obj) = get_one(inner, &path) {
        return obj;
    }
    let Some(c) = inner.collections.get_mut(&path) else {
        return full(
            StatusCode::NOT_FOUND,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": format!("{path} not found")}),
        );
    };
    let Some(ar) = c.resource.clone() else {
        return full(StatusCode::INTERNAL_SERVER_ERROR, &json!({}));
    };
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    if !watch {
        if c.lists.len() > 1 {
            c.items = c.lists.pop_front().unwrap_or_default();
        } else if let Some(last) = c.lists.pop_front() {
            c.items = last;
        }
        let items: Vec<Value> = c
            .items
            .iter()
            .map(|o| {
                let mut o = stamp(&mut inner.rv, o);
                // The API server omits apiVersion/kind on list items of built-in kinds.
                if ar.group != "crd.antrea.io"
                    && let Some(m) = o.as_object_mut()
                {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                o
            })
            .collect();
        return full(
            StatusCode::OK,
            &json!({"apiVersion": ar.api_version, "kind": format!("{}List", ar.kind),
                    "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
        );
    }
    let mut session = c.sessions.pop_front().unwrap_or(Session {
        steps: Vec::new(),
        end: false,
    });
    let mut lines = Vec::new();
    for step in std::mem::take(&mut session.steps) {
        let line = match step {
            Step::Event(kind, obj) => {
                let obj = stamp(&mut inner.rv, &obj);
                match kind {
                    "DELETED" => {
                        let (ns, name) = (
                            obj["metadata"]["namespace"].clone(),
                            obj["metadata"]["name"].clone(),
                        );
                        c.items.retain(|o| {
                            !(o["metadata"]["name"] == name && o["metadata"]["namespace"] == ns)
                        });
                    }
                    _ => c.items.push(obj.clone()),
                }
                json!({"type": kind, "object": obj})
            }
            Step::Gone => json!({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "too old resource version", "reason": "Expired", "code": 410}}),
        };
        lines.push(Ok::<_, Infallible>(Frame::data(Bytes::from(format!(
            "{line}\n"
        )))));
    }
    let tail = if session.end {
        futures::stream::empty().boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let stream = futures::stream::once(async move {
        let _ = gate.wait_for(|open| *open).await;
        futures::stream::iter(lines)
    })
    .flatten()
    .chain(tail);
    let mut resp = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

/// GET of one object of a scripted collection, by name (and namespace): the object, or
/// a `404 NotFound` Status as the API server sends it. `None` for other paths.
fn get_one(inner: &Inner, path: &str) -> Option<Response<Body>> {
    let (collection, name) = path.rsplit_once('/')?;
    let (collection, namespace) = match collection.split_once("/namespaces/") {
        Some((prefix, rest)) => {
            let (ns, plural) = rest.split_once('/')?;
            (format!("{prefix}/{plural}"), Some(ns))
        }
        None => (collection.to_owned(), None),
    };
    let c = inner.collections.get(&collection)?;
    let items = if c.items.is_empty() {
        c.lists.front().cloned().unwrap_or_default()
    } else {
        c.items.clone()
    };
    let found = items.into_iter().find(|o| {
        o["metadata"]["name"] == name && namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns)
    });
    Some(match found {
        Some(o) => full(StatusCode::OK, &o),
        None => full(
            StatusCode::NOT_FOUND,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "reason": "NotFound", "code": 404,
                    "message": format!("{name} not found")}),
        ),
    })
}
