use axum::http::{HeaderMap, HeaderValue};

use super::{COOKIE, csrf_token, form_token, same_origin, session_cookie};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn only_a_session_token_in_the_console_cookie_counts() {
    let h = headers(&[("cookie", &format!("a=b; {COOKIE}=cvs_abc ; c=d"))]);
    assert_eq!(session_cookie(&h).as_deref(), Some("cvs_abc"));
    // A service account's token, another cookie's name, or a prefix of the name: nothing.
    for cookie in [format!("{COOKIE}=cvt_abc"), "callvault=cvs_abc".to_owned(), format!("x{COOKIE}=cvs_abc")] {
        assert_eq!(session_cookie(&headers(&[("cookie", &cookie)])), None, "{cookie}");
    }
    assert_eq!(session_cookie(&HeaderMap::new()), None);
}

#[test]
fn the_form_token_names_the_session_without_revealing_it() {
    let a = csrf_token("cvs_one");
    assert_eq!(a, csrf_token("cvs_one"));
    assert_ne!(a, csrf_token("cvs_two"));
    assert_eq!(a.len(), 32);
    assert!(!a.contains("one"));
    assert_eq!(form_token(b"x=1&_csrf=abc%20d&y=2").as_deref(), Some("abc d"));
    assert_eq!(form_token(b"x=1"), None);
}

const HTTP: &[&str] = &["http"];

#[test]
fn unsafe_requests_from_another_site_are_refused() {
    let host = ("host", "127.0.0.1:8080");
    assert!(
        same_origin(&headers(&[host, ("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080")]), HTTP)
            .is_ok()
    );
    assert!(same_origin(&headers(&[host, ("origin", "https://127.0.0.1:8080")]), &["https"]).is_ok());
    // The scheme counts: an https origin is not this plain-HTTP server's, nor the reverse.
    assert!(same_origin(&headers(&[host, ("origin", "https://127.0.0.1:8080")]), HTTP).is_err());
    assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080")]), &["https"]).is_err());
    // Not a browser: neither header; the form token decides.
    assert!(same_origin(&headers(&[host]), HTTP).is_ok());
    for bad in [
        vec![host, ("sec-fetch-site", "cross-site")],
        vec![host, ("sec-fetch-site", "same-site")],
        vec![host, ("sec-fetch-site", "none")],
        vec![host, ("origin", "http://evil.example")],
        vec![host, ("origin", "null")],
        vec![host, ("origin", "http://127.0.0.1:8080.evil.example")],
        vec![("origin", "http://127.0.0.1:8080")],
    ] {
        assert!(same_origin(&headers(&bad), HTTP).is_err(), "{bad:?}");
    }
}
