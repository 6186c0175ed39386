//! The routes: the page and its assets, and the JSON API (documented in docs/serve.md):
//!
//! * `GET /api/sweeps`: every sweep served, a summary each (name, state, trial counts by status, best, times);
//! * `GET /api/sweeps/{name}`: its axes, objective, schedule, best trial, importance and rung table, and for a sweep of
//!   several objectives its Pareto front (`front`) and hypervolume after each trial (`hypervolume`);
//! * `GET /api/sweeps/{name}/trials?after=N`: the trials whose record changed after cursor N, and the new cursor;
//! * `GET /api/sweeps/{name}/curves?after=N`: the same for each trial's objective per epoch (downsampled);
//! * `GET /api/sweeps/{name}/trials/{id}`: one trial: configuration, history per epoch, loss, rung records, log;
//! * `GET /api/sweeps/{name}/export.csv` and `export.json`: the trial table.
//!
//! Requests name sweeps and trials only by key and id, looked up among what the server found: no part of a URL is
//! ever joined to a path. Every error is JSON, `{"error": "..."}`, with a 4xx status.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::Shared;
use sweep_report::live::assets::{asset, etag};
use sweep_report::live::body::{curves_body, trial_body, trials_body};
use sweep_report::live::discover::valid_name;
use sweep_report::live::trial::{export_cells, export_header, Trial};
use sweep_report::live::view::View;

/// The body of every error: `{"error": message}`.
pub fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default()
}

/// A JSON error response.
pub fn error(status: StatusCode, message: String) -> Response {
    let body = error_body(&message);
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An error answer: its status and message (written as `{"error": message}`).
pub(crate) struct ApiError(StatusCode, String);

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

type Reply = Result<Response, ApiError>;

fn json<T: Serialize + ?Sized>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write the answer: {e}")),
    }
}

/// The router of the whole server.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{name}", get(asset_file))
        .route("/api/sweeps", get(sweeps))
        .route("/api/sweeps/{key}", get(sweep))
        .route("/api/sweeps/{key}/trials", get(trials))
        .route("/api/sweeps/{key}/curves", get(curves))
        .route("/api/sweeps/{key}/export.csv", get(export_csv))
        .route("/api/sweeps/{key}/export.json", get(export_json))
        .route("/api/sweeps/{key}/trials/{id}", get(trial))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no such page or endpoint: {} (the API is under /api/sweeps; see docs/serve.md)",
            req.uri().path()
        ),
    )
}

async fn index(headers: axum::http::HeaderMap) -> Response {
    serve_asset("index.html", &headers)
}

async fn asset_file(path: Result<Path<String>, PathRejection>, headers: axum::http::HeaderMap) -> Response {
    match path {
        Ok(Path(name)) => serve_asset(&name, &headers),
        Err(e) => error(StatusCode::BAD_REQUEST, e.body_text()),
    }
}

fn serve_asset(name: &str, headers: &axum::http::HeaderMap) -> Response {
    let Some(a) = asset(name) else {
        return error(StatusCode::NOT_FOUND, format!("no asset {name:?}"));
    };
    let tag = etag(a);
    let mut r = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(a.bytes))
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// The sweep a request names.
fn view_of(shared: &Shared, key: Result<&str, &PathRejection>) -> Result<Arc<View>, ApiError> {
    let key = key.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    if !valid_name(key) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{key:?} is not a sweep name: names are letters, digits, '.', '_' and '-' (see GET /api/sweeps)"),
        ));
    }
    shared.catalog().get(key).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no sweep {key:?} is served here (GET /api/sweeps lists them)"),
        )
    })
}

/// The sweep a request for its data names: one whose files point out of its directory is refused.
fn data_of(shared: &Shared, key: Result<&str, &PathRejection>) -> Result<Arc<View>, ApiError> {
    let v = view_of(shared, key)?;
    if v.refused {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            v.summary().error.clone().unwrap_or_else(|| "this sweep is not served".into()),
        ));
    }
    Ok(v)
}

/// The `after` cursor of a query (0 when absent).
fn after(query: &Option<String>) -> Result<u64, ApiError> {
    let Some(q) = query else { return Ok(0) };
    match form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "after") {
        None => Ok(0),
        Some((_, v)) => v.parse::<u64>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("after={v:?}: the cursor is a whole number >= 0, as returned in \"cursor\" (0 for everything)"),
            )
        }),
    }
}

async fn sweeps(State(s): State<Arc<Shared>>) -> Response {
    let cat = s.catalog();
    let list: Vec<&sweep_report::live::view::Summary> = cat.sweeps.iter().map(|v| v.summary()).collect();
    json(&list)
}

async fn sweep(State(s): State<Arc<Shared>>, key: Result<Path<String>, PathRejection>) -> Reply {
    let v = view_of(&s, key.as_ref().map(|k| k.0.as_str()))?;
    Ok(json(&v.detail))
}

async fn trials(State(s): State<Arc<Shared>>, key: Result<Path<String>, PathRejection>, RawQuery(q): RawQuery) -> Reply {
    let v = data_of(&s, key.as_ref().map(|k| k.0.as_str()))?;
    let after = after(&q)?;
    Ok(json(&trials_body(&v, after)))
}

async fn curves(State(s): State<Arc<Shared>>, key: Result<Path<String>, PathRejection>, RawQuery(q): RawQuery) -> Reply {
    let v = data_of(&s, key.as_ref().map(|k| k.0.as_str()))?;
    let after = after(&q)?;
    Ok(json(&curves_body(&v, after)))
}

/// The columns of the export: every axis, every metric.
fn export_columns(v: &View) -> (Vec<String>, Vec<String>) {
    let axes = v.detail.axes.iter().map(|a| a.name.to_string()).collect();
    (axes, v.detail.metrics.clone())
}

fn attachment(mut r: Response, name: &str) -> Response {
    if let Ok(h) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, h);
    }
    r
}

async fn export_csv(State(s): State<Arc<Shared>>, key: Result<Path<String>, PathRejection>) -> Reply {
    let v = data_of(&s, key.as_ref().map(|k| k.0.as_str()))?;
    let (axes, metrics) = export_columns(&v);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = || -> Result<(), csv::Error> {
        w.write_record(export_header(&axes, &metrics))?;
        for (_, t) in &v.trials {
            w.write_record(export_cells(t, &axes, &metrics))?;
        }
        w.flush()?;
        Ok(())
    };
    if let Err(e) = write() {
        return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write the CSV: {e}")));
    }
    let body = w.into_inner().unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(attachment(r, &format!("{}-trials.csv", v.summary().key)))
}

async fn export_json(State(s): State<Arc<Shared>>, key: Result<Path<String>, PathRejection>) -> Reply {
    let v = data_of(&s, key.as_ref().map(|k| k.0.as_str()))?;
    let list: Vec<&Trial> = v.trials.iter().map(|(_, t)| t.as_ref()).collect();
    Ok(attachment(json(&list), &format!("{}-trials.json", v.summary().key)))
}

async fn trial(State(s): State<Arc<Shared>>, path: Result<Path<(String, String)>, PathRejection>) -> Reply {
    let (key, id) = match &path {
        Ok(Path((k, i))) => (Ok(k.as_str()), i.clone()),
        Err(e) => (Err(e), String::new()),
    };
    let v = data_of(&s, key)?;
    if !valid_name(&id) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a trial id: ids are letters, digits, '_' and '-'"),
        ));
    }
    let Some(&k) = v.index.get(&id) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("sweep {:?} has no trial {id:?}", v.summary().key),
        ));
    };
    // The history files are read off the async threads.
    let body = tokio::task::spawn_blocking(move || json(&trial_body(&v, k)))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the trial failed: {e}")))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::SystemTime;

    use axum::http::Request;
    use hyper_util::service::TowerToHyperService;
    use serde_json::Value;
    use sweep_report::live::discover::Found;
    use sweep_report::live::LiveSweep;

    use super::*;

    /// The routes called in-process, as a connection calls them: a GET's status and JSON body.
    fn call(shared: Arc<Shared>, path: &str) -> (StatusCode, Value) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async move {
            let req = Request::get(path).body(Body::empty()).unwrap();
            let service = TowerToHyperService::new(router(shared));
            let resp = hyper::service::Service::call(&service, req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
            (status, serde_json::from_slice(&bytes).unwrap())
        })
    }

    /// A results directory of a command sweep of `objectives` (all minimized) with rows (id, status, values).
    fn sweep_dir(dir: &Path, objectives: &[&str], rows: &[(&str, &str, [f64; 2])]) {
        let list: Vec<String> = objectives.iter().map(|o| format!("{o} = \"min\"")).collect();
        let grid = if objectives.len() > 1 {
            format!(
                "name = \"mo\"\nobjectives = {{ {} }}\n[command]\nrun = [\"python3\", \"t.py\"]\n[train]\nepochs = 3\n[grid]\nx = [1, 2]\n",
                list.join(", ")
            )
        } else {
            "name = \"mo\"\n[command]\nrun = [\"python3\", \"t.py\"]\nmetric = \"f1\"\nmode = \"min\"\n[train]\nepochs = 3\n[grid]\nx = [1, 2]\n".into()
        };
        std::fs::write(dir.join("grid.toml"), grid).unwrap();
        let multi = objectives.len() > 1;
        let mut csv = format!(
            "id,x,seed,status,rung,epochs_run,best_epoch,f1,metrics,seconds,{}note\n",
            if multi { "pareto_rank," } else { "" }
        );
        for (id, status, [f1, f2]) in rows {
            let metrics = if multi { format!("\"{{\"\"f2\"\":{f2}}}\"") } else { "{}".into() };
            csv.push_str(&format!(
                "{id},1,1,{status},,2,2,{f1},{metrics},1.0,{}\n",
                if multi { "," } else { "" }
            ));
        }
        std::fs::write(dir.join("results.csv"), csv).unwrap();
    }

    fn served(dir: &Path) -> Arc<Shared> {
        let found = Found {
            dir: dir.canonicalize().unwrap(),
            rel: "mo".into(),
        };
        let mut live = LiveSweep::new("mo".into(), found);
        live.refresh(SystemTime::now());
        let shared = Arc::new(Shared::default());
        shared.publish(&[live]);
        shared
    }

    #[test]
    fn a_sweep_of_several_objectives_answers_its_front_and_hypervolume_and_one_objective_neither() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = [
            ("a", "completed", [0.1, 0.9]),
            ("b", "completed", [0.5, 0.95]),
            ("c", "failed", [0.0, 0.0]),
            ("d", "pruned", [0.9, 0.1]),
        ];
        sweep_dir(tmp.path(), &["f1", "f2"], &rows);
        let (status, d) = call(served(tmp.path()), "/api/sweeps/mo");
        assert_eq!(status, StatusCode::OK, "{d}");
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(&d["front"]["members"]), ["a", "d"], "{d}");
        assert_eq!(ids(&d["front"]["points"]), ["a", "b", "d"], "the failed trial takes no part");
        assert_eq!(ids(&d["hypervolume"]["points"]), ["a", "b", "d"]);
        let hv: Vec<f64> = d["hypervolume"]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["hypervolume"].as_f64().unwrap())
            .collect();
        assert!(hv[0] > 0.0 && hv[1] == hv[0] && hv[2] > hv[1], "{hv:?}");

        let one = tempfile::tempdir().unwrap();
        sweep_dir(one.path(), &["f1"], &rows);
        let (status, d) = call(served(one.path()), "/api/sweeps/mo");
        assert_eq!(status, StatusCode::OK, "{d}");
        assert!(d.get("front").is_none() && d.get("hypervolume").is_none(), "{d}");
        assert!(d["best_trial"].is_object(), "{d}");
    }
}
