//! Request extractors whose rejections are problem+json, so malformed JSON, unknown fields,
//! oversized bodies and invalid ids all get the same error shape as everything else.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use callvault_core::input::without_values;

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
            ApiError::invalid(format!("invalid JSON body: {}", without_values(&e.body_text_detail())))
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
        // refused: [`without_values`] takes that out.
        let text = self.body_text();
        text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(&text).to_owned()
    }
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
                Err(ApiError::bad_request(format!("invalid query string: {}", without_values(&e.body_text()))))
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
