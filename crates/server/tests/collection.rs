//! Optional categories of personal data switched off through the API, and a user's personal
//! data report, on SQLite and PostgreSQL: switching off with data present asks for confirmation with the count, then
//! purges it; a category switched off is refused at write time (users' addresses for the tenant
//! and per user, uploads of content); categories the service runs on cannot be switched off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::encrypted::{PW, setup};
use common::{TestApp, backends};
use serde_json::json;

#[tokio::test]
async fn switched_off_categories_are_purged_on_confirmation_and_refused_at_write_time() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        let set = |body| {
            let app = &app;
            let admin = s.admin.clone();
            async move { app.request("PUT", "/v1/personal-data/collection", Some(&admin), Some(body)).await }
        };
        let (st, v) = app.get("/v1/personal-data/collection", &s.admin).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!((&v["directory"], &v["recordings"], &v["reporting"]), (&json!(true), &json!(true), &json!(true)));

        // The service runs on these: never switched off.
        let (st, v) = set(json!({ "category": "user_master", "collected": false })).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, _) = app
            .request(
                "PUT",
                "/v1/personal-data/collection",
                Some(&s.recorder),
                Some(json!({ "category": "directory", "collected": false })),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);

        // Directory information: the users made by the setup have a phone each.
        let (st, v) = set(json!({ "category": "directory", "collected": false })).await;
        assert_eq!(st, StatusCode::CONFLICT, "asks first: {v}");
        assert!(v["detail"].as_str().unwrap().contains("confirm_purge"), "{v}");
        let (_, users) = app.get("/v1/users", &s.admin).await;
        let with_addresses =
            users.as_array().unwrap().iter().filter(|u| !u["addresses"].as_array().unwrap().is_empty());
        assert!(with_addresses.count() >= 3, "{users}");
        let (st, v) = set(json!({ "category": "directory", "collected": false, "confirm_purge": true })).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["directory"], false);
        let (_, users) = app.get("/v1/users", &s.admin).await;
        assert!(users.as_array().unwrap().iter().all(|u| u["addresses"] == json!([])), "purged: {users}");
        let phone = json!([{ "kind": "phone", "value": "+15555550199" }]);
        let (st, v) = app
            .post(
                "/v1/users",
                &s.admin,
                json!({ "login": "nodir", "first_name": "No", "last_name": "Dir", "addresses": phone }),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "refused at write time: {v}");
        assert!(v["detail"].as_str().unwrap().contains("not collected"), "{v}");

        // Back on; then off for one user only.
        let (st, _) = set(json!({ "category": "directory", "collected": true })).await;
        assert_eq!(st, StatusCode::OK);
        let ana = app.user(&s.admin, "ana", PW, json!({})).await;
        let bob = app.user(&s.admin, "bob", PW, json!({})).await;
        let path = format!("/v1/users/{ana}/collection");
        let (st, v) = app.request("PUT", &path, Some(&s.admin), Some(json!({ "directory": false }))).await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        let (st, v) =
            app.request("PUT", &path, Some(&s.admin), Some(json!({ "directory": false, "confirm_purge": true }))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["users_without_directory"], json!([ana]));
        let (_, a) = app.get(&format!("/v1/users/{ana}"), &s.admin).await;
        assert_eq!(a["addresses"], json!([]), "{a}");
        let (st, v) = app
            .request("PATCH", &format!("/v1/users/{ana}"), Some(&s.admin), Some(json!({ "addresses": phone })))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, v) = app
            .request("PATCH", &format!("/v1/users/{bob}"), Some(&s.admin), Some(json!({ "addresses": phone })))
            .await;
        assert_eq!(st, StatusCode::OK, "another user's addresses are still collected: {v}");

        // Recordings: an existing one is purged on confirmation; uploads are refused after.
        let data = vec![3u8; 1024];
        let path = format!("/v1/objects?class=voice&size={}", data.len());
        let up = || app.raw("POST", &path, Some(&s.recorder), Some(data.clone()), "audio/wav");
        let (st, _, body) = up().await;
        assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        let object: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let (st, v) = set(json!({ "category": "recordings", "collected": false })).await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        assert!(v["detail"].as_str().unwrap().starts_with("1 item(s) of recordings"), "{v}");
        let (st, v) = set(json!({ "category": "recordings", "collected": false, "confirm_purge": true })).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, v) = app.get(&format!("/v1/objects/{}", object["id"].as_str().unwrap()), &s.recorder).await;
        assert_eq!(st, StatusCode::GONE, "{v}");
        let (st, _, body) = up().await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("does not collect recordings"));

        // A user's personal data report (administrators): master data, roles, directory switch,
        // and what the user was an agent of.
        let (st, rep) = app.get(&format!("/v1/users/{ana}/personal-data-report"), &s.admin).await;
        assert_eq!(st, StatusCode::OK, "{rep}");
        assert_eq!(rep["user"]["login"], "ana", "{rep}");
        assert_eq!(rep["directory_collected"], false, "{rep}");
        assert!(rep["items"].as_array().unwrap().is_empty(), "{rep}");
        let (st, _, html) = app
            .raw(
                "GET",
                &format!("/v1/users/{bob}/personal-data-report?format=html"),
                Some(&s.admin),
                None,
                "text/plain",
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("Personal data report") && html.contains("+15555550199"), "{html}");
        let (st, _) = app.get(&format!("/v1/users/{ana}/personal-data-report"), &s.recorder).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(app.audit_bodies().await.iter().any(|e| e["action"] == "user.personal_data_report"));

        let audit = app.audit_bodies().await;
        let switches = audit.iter().filter(|e| e["action"] == "collection.set" || e["action"] == "collection.set_user");
        assert_eq!(switches.count(), 4, "every switch is audited");
        app.cleanup().await;
    }
}
