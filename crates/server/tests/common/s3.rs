//! A real S3 server for tests: moto in server mode (`pip install 'moto[server]'`), started per
//! test on a free loopback port and stopped when dropped. Without moto the test prints a skip
//! notice, or fails when `CALLVAULT_REQUIRE_ALL_BACKENDS` is set (as in CI).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callvault_core::config::{BlobBackend, Config};

/// A running moto server with one bucket.
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    child: Child,
    secret_file: std::path::PathBuf,
}

impl S3Server {
    /// Starts moto and creates `bucket`; `None` (after a skip notice) when moto is missing.
    pub fn start(bucket: &str) -> Option<S3Server> {
        let present = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            if std::env::var("CALLVAULT_REQUIRE_ALL_BACKENDS").is_ok() {
                panic!("CALLVAULT_REQUIRE_ALL_BACKENDS is set but moto is not installed (pip install 'moto[server]')");
            }
            eprintln!("SKIP: S3 run skipped: moto is not installed (pip install 'moto[server]')");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let secret_file = std::env::temp_dir().join(format!("cv-s3-secret-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&secret_file, "test-secret\n").unwrap();
        let server = S3Server { port, bucket: bucket.to_owned(), child, secret_file };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((status, _)) = server.http("PUT", &format!("/{bucket}")) {
                assert_eq!(status, 200, "creating the bucket");
                return Some(server);
            }
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Points `config` at this server's bucket under `prefix`.
    pub fn configure(&self, config: &mut Config, prefix: &str) {
        config.blob_store = BlobBackend::S3;
        config.s3_bucket = self.bucket.clone();
        config.s3_endpoint = Some(self.endpoint());
        config.s3_prefix = prefix.to_owned();
        config.s3_access_key_id = Some("test".into());
        config.s3_secret_access_key_file = Some(self.secret_file.clone());
    }

    /// One unsigned request without a body (moto does not check signatures).
    pub fn http(&self, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        self.http_with(method, path, &[])
    }

    /// One unsigned request: status and body.
    pub fn http_with(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let port = self.port;
        let len = body.len();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )?;
        s.write_all(body)?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer);
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body =
            answer.windows(4).position(|w| w == b"\r\n\r\n").map_or_else(Vec::new, |at| answer[at + 4..].to_vec());
        Ok((status, body))
    }

    /// The keys stored under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let (status, body) = self.http("GET", &format!("/{}?list-type=2&prefix={prefix}", self.bucket)).unwrap();
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        text.split("<Key>").skip(1).filter_map(|k| k.split("</Key>").next()).map(str::to_owned).collect()
    }

    /// A signed client of the bucket, independent of the blob store under test.
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_access_key_id("test")
            .with_secret_access_key("test-secret")
            .build()
            .unwrap()
    }

    /// The stored bytes of a key.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt;
        let got = self.client().get(&object_store::path::Path::from(key)).await.unwrap();
        got.bytes().await.unwrap().to_vec()
    }

    /// Stores bytes under a key.
    pub async fn put(&self, key: &str, bytes: &[u8]) {
        use object_store::ObjectStoreExt;
        self.client().put(&object_store::path::Path::from(key), bytes.to_vec().into()).await.unwrap();
    }

    /// Stops the server (readiness must then fail).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.secret_file);
    }
}
