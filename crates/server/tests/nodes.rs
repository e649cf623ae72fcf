//! Several nodes on one database, in one process: each node is the same services with its own
//! `node_id`. Key jobs are claimed with leases, so a job runs on one node at a time; a node whose
//! lease expired is replaced by another, which resumes at the job's cursor. (The same with two
//! real processes, SIGKILL included: `scripts/two-nodes.py`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use callvault_core::config::Config;
use callvault_core::services::Services;
use callvault_core::vault::jobs::run_once;
use callvault_model::vault::JobState;
use common::encrypted::{ceremony, setup};
use common::{TestApp, backends, job, sample};
use serde_json::json;

fn node(app: &TestApp, name: &str) -> Services {
    let mut services = app.state.services.clone();
    services.parts_mut().config = Arc::new(Config { node_id: name.into(), ..(*services.config).clone() });
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_jobs_on_two_nodes_each_run_once() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids.push(job(&app, s.tenant, JobState::Running).await);
        }
        let run = |services: Services| {
            tokio::spawn(async move {
                let mut steps = 0u32;
                while run_once(&services).await.unwrap() {
                    steps += 1;
                }
                steps
            })
        };
        let (a, b) = tokio::join!(run(node(&app, "node-a")), run(node(&app, "node-b")));
        let (a, b) = (a.unwrap(), b.unwrap());
        let finished: Vec<_> = app.audit_bodies().await.into_iter().filter(|e| e["action"] == "job.finished").collect();
        let mut per_job: HashMap<String, Vec<String>> = HashMap::new();
        for e in &finished {
            let node = e["details"]["node"].as_str().unwrap().to_owned();
            per_job.entry(e["targets"][0]["id"].as_str().unwrap().to_owned()).or_default().push(node);
        }
        assert_eq!(finished.len(), 100, "{db:?}: one finish per job");
        assert!(per_job.values().all(|nodes| nodes.len() == 1), "{db:?}: a job finished twice: {per_job:?}");
        let on_a = finished.iter().filter(|e| e["details"]["node"] == "node-a").count();
        println!("{db:?}: 100 jobs, {on_a} finished on node-a and {} on node-b ({a} and {b} steps)", 100 - on_a);
        assert_eq!(a + b, 100, "{db:?}: one step per job, none run twice");
        for id in ids {
            let (_, j) = app.get(&format!("/v1/jobs/{id}"), &s.so1).await;
            assert_eq!(j["state"], "done", "{j}");
        }
        app.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_lease_expired_is_replaced_and_cannot_take_the_job_back() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        // Thirty plain objects, then encryption: an encrypt-all job of 16 objects a step.
        let mut objects = Vec::new();
        for i in 0..30u32 {
            let data = sample(1000 + i as usize * 500, i);
            let path = format!("/v1/objects?class=screen&size={}", data.len());
            let (st, _, body) = app.raw("POST", &path, Some(&s.recorder), Some(data.clone()), "video/webm").await;
            assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
            let o: serde_json::Value = serde_json::from_slice(&body).unwrap();
            objects.push((o["id"].as_str().unwrap().to_owned(), data));
        }
        let done = ceremony(&app, &s, "enable_encryption", json!({})).await;
        let job_id = done["result"]["jobs"][0].as_str().unwrap().to_owned();
        let (a, b) = (node(&app, "node-a"), node(&app, "node-b"));
        // Node A takes the job and does one step; node B finds nothing it may claim.
        assert!(run_once(&a).await.unwrap());
        let (_, j) = app.get(&format!("/v1/jobs/{job_id}"), &s.so1).await;
        assert_eq!(j["objects_done"], 16, "{j}");
        assert!(!run_once(&b).await.unwrap(), "node-b must not run a job node-a holds");
        // Node A dies: after the lease (30 s) node B takes over and resumes at the cursor.
        app.clock.advance_ms(31_000);
        assert!(run_once(&b).await.unwrap());
        let (_, j) = app.get(&format!("/v1/jobs/{job_id}"), &s.so1).await;
        assert_eq!(j["objects_done"], 30, "{j}");
        // Node A comes back within node B's lease: it may not claim the job.
        assert!(!run_once(&a).await.unwrap(), "node-a must not take the job back while node-b holds it");
        while run_once(&b).await.unwrap() {}
        let (_, j) = app.get(&format!("/v1/jobs/{job_id}"), &s.so1).await;
        assert_eq!(
            (j["state"].as_str(), j["objects_done"].as_u64(), j["failures"].as_u64()),
            (Some("done"), Some(30), Some(0))
        );
        for (id, data) in &objects {
            let (st, _, got) = app.raw("GET", &format!("/v1/objects/{id}/content"), Some(&s.recorder), None, "").await;
            assert_eq!((st, &got), (StatusCode::OK, data));
            let (_, o) = app.get(&format!("/v1/objects/{id}"), &s.recorder).await;
            assert_eq!(o["key_version"], 1, "{o}");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn purge_and_scrub_run_on_one_node_at_a_time() {
    for db in backends() {
        let app = TestApp::new(db).await;
        // A second node: its own pool on the same database.
        let other = app.db.store().await;
        let held = app.state.store.try_exclusive("retention-purge").await.unwrap();
        assert!(held.is_some());
        let second = other.try_exclusive("retention-purge").await.unwrap();
        match db {
            // One node on SQLite: always granted.
            common::Db::Sqlite => assert!(second.is_some()),
            common::Db::Postgres => {
                assert!(second.is_none(), "a second node may not purge while the first does");
                assert!(other.try_exclusive("scrub").await.unwrap().is_some(), "another task's turn is separate");
                held.unwrap().release().await;
                assert!(other.try_exclusive("retention-purge").await.unwrap().is_some(), "released");
            }
        }
        drop(second);
        app.cleanup().await;
    }
}
