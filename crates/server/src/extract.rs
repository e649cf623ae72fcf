//! Request extractors whose rejections are problem+json, so malformed JSON, unknown fields,
//! oversized bodies and invalid ids all get the same error shape as everything else.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Unknown fields are refused by the target types (`deny_unknown_fields`).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            ApiError::invalid(format!("invalid JSON body: {}", scrub(&e.body_text_detail())))
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("the body is not valid JSON"),
        JsonRejection::MissingJsonContentType(_) => ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .with_detail("expected a body with Content-Type: application/json"),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(0).with_limit_from_status(),
        _ => ApiError::bad_request("the body could not be read"),
    }
}

trait DetailText {
    fn body_text_detail(&self) -> String;
}

impl DetailText for axum::extract::rejection::JsonDataError {
    fn body_text_detail(&self) -> String {
        // serde's message names the field and the line/column, and echoes the value it
        // refused: [`scrub`] takes that out.
        let text = self.body_text();
        text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(&text).to_owned()
    }
}

/// serde's message without the values the client sent: a refused value may be personal data
/// or a card number sent in the wrong field, and a problem detail is shown and logged by
/// clients. What stays: field names the API defines, the expected types and variants, the
/// line and column. `unknown variant `4111…``, `invalid type: string "…"` and `invalid value:
/// integer `…`` lose the value; an unknown field's name stays only when it looks like a name.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['`', '"']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let quote = from.as_bytes()[0];
        // The closing quote (serde escapes a `"` inside a string value as `\"`).
        let mut end = None;
        let bytes = from.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b if b == quote => {
                    end = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let Some(end) = end else {
            // No closing quote: whatever follows is the client's.
            out.push_str("(value not shown)");
            return out;
        };
        let value = &from[1..end];
        let name_like = value.len() <= 64
            && value.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let echoed = ["unknown variant ", "string ", "integer ", "floating point ", "character ", "boolean "]
            .iter()
            .any(|p| before.ends_with(p));
        let field = ["unknown field ", "duplicate field "].iter().any(|p| before.ends_with(p));
        if echoed || (field && !name_like) {
            out.push_str("(value not shown)");
        } else {
            out.push_str(&from[..=end]);
        }
        rest = &from[end + 1..];
    }
    out.push_str(rest);
    // What is left unquoted (a path of field names, where an unknown key shows raw) loses
    // anything shaped like a number or an e-mail address.
    numbers_and_addresses_hidden(&out)
}

/// `text` with every run of six or more digits (spaces, dashes, dots, parentheses and `+`
/// between them) and every word holding an `@` replaced.
fn numbers_and_addresses_hidden(text: &str) -> String {
    const HIDDEN: &str = "(value not shown)";
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(if word.contains('@') { HIDDEN } else { word });
    }
    let chars: Vec<char> = out.chars().collect();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut j = i;
            let (mut digits, mut last_digit) = (0, i);
            while j < chars.len() && (chars[j].is_ascii_digit() || " -.()+".contains(chars[j])) {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                    last_digit = j;
                }
                j += 1;
            }
            if digits >= 6 {
                result.push_str(HIDDEN);
                i = last_digit + 1;
                continue;
            }
            result.extend(&chars[i..=last_digit]);
            i = last_digit + 1;
            continue;
        }
        result.push(chars[i]);
        i += 1;
    }
    result
}

/// Path parameters; an unparsable id is a 404 (there is no object with that name).
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found("object (invalid id)")),
            Err(_) => Err(ApiError::bad_request("invalid path")),
        }
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(format!("invalid query string: {}", scrub(&e.body_text()))))
            }
            Err(_) => Err(ApiError::bad_request("invalid query string")),
        }
    }
}

/// The client's address when the server knows it (not in in-process tests).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn refused_values_are_not_echoed() {
        let cases = [
            (
                "kind: unknown variant `4111 1111 1111 1111`, expected `phone` or `email` at line 1 column 30",
                "kind: unknown variant (value not shown), expected `phone` or `email` at line 1 column 30",
            ),
            (
                "size: invalid type: string \"+1 212 555 0147\", expected u64",
                "size: invalid type: string (value not shown), expected u64",
            ),
            (
                "invalid type: string \"a \\\"quoted\\\" card 4111\", expected a number",
                "invalid type: string (value not shown), expected a number",
            ),
            (
                "at: invalid value: integer `-5`, expected u64",
                "at: invalid value: integer (value not shown), expected u64",
            ),
            ("unknown field `phonee`, expected one of `phone`", "unknown field `phonee`, expected one of `phone`"),
            ("unknown field `+12125550147`, expected `a`", "unknown field (value not shown), expected `a`"),
            ("missing field `subject_id` at line 1 column 2", "missing field `subject_id` at line 1 column 2"),
            ("unknown variant `4111", "unknown variant (value not shown)"),
            (
                "+12125550147: unknown field `+12125550147`, expected `kind` at line 1 column 37",
                "(value not shown): unknown field (value not shown), expected `kind` at line 1 column 37",
            ),
            ("4111 1111 1111 1111: unknown field", "(value not shown): unknown field"),
            ("ana@example.com: unknown field", "(value not shown) unknown field"),
            (
                "fields[0].name: invalid length 3, expected 1 at line 12 column 100",
                "fields[0].name: invalid length 3, expected 1 at line 12 column 100",
            ),
        ];
        for (message, shown) in cases {
            assert_eq!(scrub(message), shown, "{message}");
        }
    }
}
