//! Many clients writing and watching at once: no lost or duplicated events, growing RVs.

use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::Status;
use sandbox::{Sandbox, SandboxOptions};

/// Runs a test body with a time limit, so a hang fails fast instead of stalling CI.
async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(60), body)
        .await
        .expect("test finished within 60 s");
}
use serde_json::json;

const WRITERS: usize = 4;
const PODS_PER_WRITER: usize = 40;
/// create, label patch, binding, status patch, delete.
const OPS_PER_POD: usize = 5;

fn rv_of(p: &Pod) -> u64 {
    p.metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("numeric resourceVersion")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_watchers_see_every_event_once() {
    bounded(async {
        let sb = Sandbox::start(SandboxOptions {
            event_window: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
        let start_rv = sb.resource_version();
        let total = WRITERS * PODS_PER_WRITER * OPS_PER_POD;

        let mut watchers = Vec::new();
        for w in 0..3 {
            let api: Api<Pod> = if w == 0 {
                Api::all(sb.client())
            } else {
                Api::default_namespaced(sb.client())
            };
            let stream = api
                .watch(&WatchParams::default().timeout(30), &start_rv.to_string())
                .await
                .unwrap();
            watchers.push(tokio::spawn(async move {
                let mut stream = Box::pin(stream);
                let mut seen: Vec<(String, String, u64)> = Vec::new();
                while seen.len() < total {
                    let ev = tokio::time::timeout(Duration::from_secs(20), stream.try_next())
                        .await
                        .expect("watch event in time")
                        .expect("watch ok")
                        .expect("stream not ended");
                    let (kind, p) = match ev {
                        WatchEvent::Added(p) => ("ADDED", p),
                        WatchEvent::Modified(p) => ("MODIFIED", p),
                        WatchEvent::Deleted(p) => ("DELETED", p),
                        WatchEvent::Bookmark(_) => continue,
                        WatchEvent::Error(e) => panic!("watch error {e:?}"),
                    };
                    seen.push((
                        kind.to_string(),
                        p.metadata.name.clone().unwrap(),
                        rv_of(&p),
                    ));
                }
                seen
            }));
        }

        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let api: Api<Pod> = Api::default_namespaced(sb.client());
            writers.push(tokio::spawn(async move {
                let mut last_rv = 0;
                let mut check = |rv: u64| {
                    assert!(
                        rv > last_rv,
                        "resourceVersions must grow: {rv} after {last_rv}"
                    );
                    last_rv = rv;
                };
                for i in 0..PODS_PER_WRITER {
                    let name = format!("w{w}-p{i}");
                    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name},
                        "spec": {"containers": [{"name": "c", "image": "x"}]}}))
                    .unwrap();
                    check(rv_of(
                        &api.create(&PostParams::default(), &pod).await.unwrap(),
                    ));
                    let p = api
                        .patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"metadata": {"labels": {"i": i.to_string()}}})),
                        )
                        .await
                        .unwrap();
                    check(rv_of(&p));
                    let binding = Binding {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            ..Default::default()
                        },
                        target: ObjectReference {
                            kind: Some("Node".into()),
                            name: Some(format!("n{w}")),
                            ..Default::default()
                        },
                    };
                    let st: Status = api
                        .create_subresource("binding", &name, &PostParams::default(), &binding)
                        .await
                        .unwrap();
                    assert_eq!(st.code, 201);
                    let p = api
                        .patch_status(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
                        )
                        .await
                        .unwrap();
                    check(rv_of(&p));
                    // Succeeded pods are deleted at once, without a grace period.
                    let gone = api.delete(&name, &DeleteParams::default()).await.unwrap();
                    assert!(gone.is_left());
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(sb.resource_version() - start_rv, total as u64);
        assert!(sb.list("pods").is_empty());

        let mut results = Vec::new();
        for w in watchers {
            results.push(
                tokio::time::timeout(Duration::from_secs(20), w)
                    .await
                    .expect("watchers finish")
                    .unwrap(),
            );
        }
        for seen in &results {
            assert_eq!(seen.len(), total, "no lost or extra events");
            let rvs: Vec<u64> = seen.iter().map(|s| s.2).collect();
            assert!(
                rvs.windows(2).all(|w| w[1] == w[0] + 1),
                "every write seen once, in order"
            );
            assert_eq!(rvs[0], start_rv + 1);
            for w in 0..WRITERS {
                for i in 0..PODS_PER_WRITER {
                    let name = format!("w{w}-p{i}");
                    let kinds: Vec<&str> = seen
                        .iter()
                        .filter(|s| s.1 == name)
                        .map(|s| s.0.as_str())
                        .collect();
                    assert_eq!(
                        kinds,
                        ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"],
                        "{name}"
                    );
                }
            }
        }
        assert_eq!(results[0], results[1]);
        assert_eq!(results[1], results[2]);
        sb.shutdown().await;
    })
    .await;
}
