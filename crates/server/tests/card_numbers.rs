//! Card numbers never stored readable (PCI DSS 4.0.1 Req. 3.4.1), through the real API on SQLite
//! and PostgreSQL: a chat transcript with card numbers (one split over two frames of the upload,
//! one with expiry and CVV) is stored masked — the download, the stored blob and the object's
//! digest are of the masked text, the client's digest is checked on what it sent, the object
//! counts the redactions; audio is never touched; free-text list fields are masked (identifier
//! fields are not); the tenant setting `redact_card_numbers` switches it off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests: a failed step fails the test")]

mod common;

use axum::http::StatusCode;
use common::encrypted::{ceremony, setup};
use common::{TestApp, backends};
use serde_json::{Value, json};

const CHAT: &str = "agent: how would you like to pay?\ncustomer: visa 4111 1111 1111 1111 exp 12/27 cvv 123\n\
                    agent: and the other one?\ncustomer: 5500-0000-0000-0004\norder 1234567890123 is fine\n";

async fn upload(
    app: &TestApp,
    token: &str,
    class: &str,
    content_type: &str,
    data: &[u8],
    sha: &str,
) -> (StatusCode, Value) {
    let path = format!("/v1/objects?class={class}&size={}&interaction=chat-1&sha256={sha}", data.len());
    let (st, _, body) = app.raw("POST", &path, Some(token), Some(data.to_vec()), content_type).await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn download(app: &TestApp, token: &str, id: &str) -> Vec<u8> {
    let (st, _, body) = app.raw("GET", &format!("/v1/objects/{id}/content"), Some(token), None, "").await;
    assert_eq!(st, StatusCode::OK);
    body
}

fn sha(data: &[u8]) -> String {
    hex::encode(callvault_crypto::digest::sha256(data))
}

#[tokio::test]
async fn card_numbers_in_text_are_masked_before_storage() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;

        // A chat transcript: stored masked, same length; the client's digest is of what it sent.
        let (st, o) = upload(&app, &s.recorder, "chat", "text/plain", CHAT.as_bytes(), &sha(CHAT.as_bytes())).await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        assert_eq!(o["redactions"], 2, "{o}");
        let id = o["id"].as_str().unwrap().to_owned();
        let stored = download(&app, &s.recorder, &id).await;
        let text = String::from_utf8(stored.clone()).unwrap();
        assert_eq!(text.len(), CHAT.len());
        assert!(text.contains("visa 4111 11** **** 1111 exp **/** cvv ***\n"), "{text}");
        assert!(text.contains("5500-00**-****-0004"), "{text}");
        assert!(text.contains("order 1234567890123 is fine"), "not a card number: {text}");
        assert_eq!(o["sha256"], sha(&stored), "the object's digest is of what is stored");
        let (_, meta) = app.get(&format!("/v1/objects/{id}"), &s.recorder).await;
        assert_eq!(meta["redactions"], 2, "{meta}");
        // Nothing readable in what is stored either (sealed; and the plaintext is masked).
        for bytes in common::stored::all(&app, s.tenant).await {
            assert!(!bytes.windows(4).any(|w| w == b"1111"), "plaintext in a blob");
        }
        // A wrong declared digest is still refused, and nothing is stored.
        let (st, e) = upload(&app, &s.recorder, "chat", "text/plain", CHAT.as_bytes(), &sha(b"other")).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

        // Audio is never scanned: its bytes come back as they went.
        let audio = b"RIFF....WAVEdata 4111111111111111 not text".to_vec();
        let (st, o) = upload(&app, &s.recorder, "voice", "audio/wav", &audio, &sha(&audio)).await;
        assert_eq!((st, o["redactions"].as_u64()), (StatusCode::CREATED, Some(0)), "{o}");
        assert_eq!(download(&app, &s.recorder, o["id"].as_str().unwrap()).await, audio);

        // Free-text list fields are masked; an identifier field is kept exact.
        let (st, list) = app
            .post(
                "/v1/lists",
                &s.admin,
                json!({ "kind": "calling_list", "name": "callbacks", "fields": [
                    { "name": "notes" }, { "name": "secret_notes", "encrypted": true },
                    { "name": "phone", "encrypted": true, "identifier": "phone" }] }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{list}");
        let list = list["id"].as_str().unwrap().to_owned();
        let (st, rec) = app
            .post(
                &format!("/v1/lists/{list}/records"),
                &s.admin,
                json!({ "notes": "paid with 4111111111111111", "secret_notes": "amex 3782 822463 10005",
                        "phone": "+1 212 555 0147" }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{rec}");
        let (_, read) = app.get(&format!("/v1/lists/{list}/records/{}", rec["id"].as_str().unwrap()), &s.admin).await;
        let fields = if read["fields"].is_object() { &read["fields"] } else { &read };
        assert_eq!(fields["notes"], "paid with 411111******1111", "{read}");
        assert_eq!(fields["secret_notes"], "amex 3782 82**** *0005", "{read}");
        assert_eq!(fields["phone"], "+1 212 555 0147", "{read}");

        // The tenant may switch it off (audited like every settings change).
        let (st, v) =
            app.request("PATCH", "/v1/settings", Some(&s.admin), Some(json!({ "redact_card_numbers": false }))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, o) = upload(&app, &s.recorder, "sms", "text/plain", CHAT.as_bytes(), &sha(CHAT.as_bytes())).await;
        assert_eq!((st, o["redactions"].as_u64()), (StatusCode::CREATED, Some(0)), "{o}");
        assert_eq!(download(&app, &s.recorder, o["id"].as_str().unwrap()).await, CHAT.as_bytes());
        app.cleanup().await;
    }
}

/// The transcript of an interaction as stored: its messages' texts.
async fn transcript(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let body = download(app, token, id).await;
    body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
}

#[tokio::test]
async fn a_card_number_split_over_chat_messages_is_masked_in_both() {
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let (st, chat) =
            app.post("/v1/interactions", &s.recorder, json!({ "channel": "chat", "direction": "inbound" })).await;
        assert_eq!(st, StatusCode::CREATED, "{chat}");
        let path = format!("/v1/interactions/{}/messages", chat["id"].as_str().unwrap());
        let say = |text: &'static str| json!({ "from": "customer", "text": text });

        let (st, first) = app.post(&path, &s.recorder, say("my card is 4111 1111")).await;
        assert_eq!(st, StatusCode::CREATED, "{first}");
        assert_eq!((first["seq"].as_u64(), first["redactions"].as_u64()), (Some(1), Some(0)), "{first}");
        assert!(first.get("text").is_none(), "the answer never repeats the text: {first}");
        let (st, second) = app.post(&path, &s.recorder, say("1111 1111")).await;
        assert_eq!(st, StatusCode::CREATED, "{second}");
        assert_eq!((second["redactions"].as_u64(), second["earlier_masked"].as_bool()), (Some(1), Some(true)));
        for text in ["12/27", "123", "order 1234567890123, thanks"] {
            let (st, v) = app.post(&path, &s.recorder, say(text)).await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        let object = first["object"].as_str().unwrap();
        assert_eq!(second["object"], object, "one transcript per interaction");
        let texts: Vec<String> = transcript(&app, &s.recorder, object)
            .await
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts, ["my card is 4111 11**", "**** 1111", "**/**", "***", "order 1234567890123, thanks"]);
        let (_, meta) = app.get(&format!("/v1/objects/{object}"), &s.recorder).await;
        assert_eq!((meta["redactions"].as_u64(), meta["class"].as_str()), (Some(1), Some("chat")), "{meta}");
        assert_eq!(meta["interaction"], chat["id"], "an interaction without a reference gets its id as one: {meta}");
        // A small transcript is kept in its row (each append one commit): no blob file at all,
        // and what is stored holds no card number.
        let dir = app.state.config.data_dir.join("blobs").join(s.tenant.to_string());
        assert_eq!(std::fs::read_dir(&dir).map_or(0, Iterator::count), 0);
        let (name, _) = common::stored::bytes(&app, s.tenant, object.parse().unwrap()).await;
        assert!(name.ends_with(".cvi"), "{name}");

        // Appends at once lose nothing: every message is there once, numbered in order.
        let sends = (0..12).map(|i| {
            let (app, path, token) = (&app, &path, &s.recorder);
            async move { app.post(path, token, json!({ "from": "customer", "text": format!("message {i}") })).await }
        });
        for (st, v) in futures_util::future::join_all(sends).await {
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        let all = transcript(&app, &s.recorder, object).await;
        let seqs: Vec<u64> = all.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=17).collect::<Vec<_>>());
        for i in 0..12 {
            assert!(all.iter().any(|m| m["text"] == format!("message {i}")), "message {i} lost");
        }

        // Only chat and SMS interactions take messages; an agent speaks for themselves only.
        let (_, voice) =
            app.post("/v1/interactions", &s.recorder, json!({ "channel": "voice", "direction": "inbound" })).await;
        let (st, e) = app
            .post(&format!("/v1/interactions/{}/messages", voice["id"].as_str().unwrap()), &s.recorder, say("hi"))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (st, e) = app
            .post(&path, &s.recorder, json!({ "from": "agent", "agent": uuid::Uuid::now_v7(), "text": "hello" }))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (st, e) =
            app.post(&format!("/v1/interactions/{}/messages", uuid::Uuid::now_v7()), &s.recorder, say("hi")).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
        // An administrator creates no content.
        let (st, e) = app.post(&path, &s.admin, say("hi")).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_email_is_scanned_in_its_decoded_text_parts() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let text = "Dear team,\r\nplease charge 4111 1111 1111 1111, exp 12/27.\r\n";
    let encoded = STANDARD.encode(text);
    let mail = format!(
        "From: customer@example.com\r\nSubject: payment\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"xyz\"\r\n\r\n--xyz\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--xyz\r\nContent-Type: text/html\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>card 5500 0000 00=\r\n00 0004</p>\r\n--xyz--\r\n"
    );
    for db in backends() {
        let app = TestApp::new(db).await;
        let s = setup(&app).await;
        ceremony(&app, &s, "enable_encryption", json!({})).await;
        let (st, o) =
            upload(&app, &s.recorder, "email", "message/rfc822", mail.as_bytes(), &sha(mail.as_bytes())).await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        assert_eq!(o["redactions"], 2, "{o}");
        let stored = String::from_utf8(download(&app, &s.recorder, o["id"].as_str().unwrap()).await).unwrap();
        assert_eq!(stored.len(), mail.len());
        let start = stored.find("base64\r\n\r\n").unwrap() + 10;
        let part = &stored[start..start + encoded.len()];
        let decoded = String::from_utf8(STANDARD.decode(part).unwrap()).unwrap();
        assert_eq!(decoded, "Dear team,\r\nplease charge 4111 11** **** 1111, exp **/**.\r\n");
        assert!(stored.contains("<p>card 5500 00** **=\r\n** 0004</p>"), "{stored}");

        // Base64 text that cannot be read back is refused, and nothing is stored.
        let broken = mail.replace(&encoded, &format!("{}=A", &encoded[..8]));
        let (st, e) =
            upload(&app, &s.recorder, "email", "message/rfc822", broken.as_bytes(), &sha(broken.as_bytes())).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("part 1"), "{e}");
        let (_, list) = app.get("/v1/objects?class=email", &s.recorder).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
        app.cleanup().await;
    }
}
