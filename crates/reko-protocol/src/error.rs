//! The error table: every error reko returns, with its Rekognition `__type` and HTTP status.

use std::fmt;

/// Whose fault an error is; decides the HTTP status class and whether the server logs it as a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request was wrong; the client can fix it.
    Client,
    /// reko failed; logged, and the client sees no internals.
    Server,
}

macro_rules! error_codes {
    ($( $variant:ident => $type_name:literal, $status:literal, $fault:ident; )*) => {
        /// Every error code reko can return. The model's exception shapes first, then the protocol and
        /// authentication errors that AWS front-ends return for any JSON service.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant, )* }

        impl ErrorCode {
            /// All codes, in table order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The `__type` / `x-amzn-ErrorType` name.
            pub fn type_name(self) -> &'static str {
                match self { $( ErrorCode::$variant => $type_name, )* }
            }

            /// The HTTP status code.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// Whose fault it is.
            pub fn fault(self) -> Fault {
                match self { $( ErrorCode::$variant => Fault::$fault, )* }
            }
        }
    };
}

error_codes! {
    // Exceptions of the service model.
    AccessDenied => "AccessDeniedException", 400, Client;
    Conflict => "ConflictException", 400, Client;
    HumanLoopQuotaExceeded => "HumanLoopQuotaExceededException", 400, Client;
    IdempotentParameterMismatch => "IdempotentParameterMismatchException", 400, Client;
    ImageTooLarge => "ImageTooLargeException", 400, Client;
    InternalServerError => "InternalServerError", 500, Server;
    InvalidImageFormat => "InvalidImageFormatException", 400, Client;
    InvalidManifest => "InvalidManifestException", 400, Client;
    InvalidPaginationToken => "InvalidPaginationTokenException", 400, Client;
    InvalidParameter => "InvalidParameterException", 400, Client;
    InvalidPolicyRevisionId => "InvalidPolicyRevisionIdException", 400, Client;
    InvalidS3Object => "InvalidS3ObjectException", 400, Client;
    LimitExceeded => "LimitExceededException", 400, Client;
    MalformedPolicyDocument => "MalformedPolicyDocumentException", 400, Client;
    ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException", 400, Client;
    ResourceAlreadyExists => "ResourceAlreadyExistsException", 400, Client;
    ResourceInUse => "ResourceInUseException", 400, Client;
    ResourceNotFound => "ResourceNotFoundException", 400, Client;
    ResourceNotReady => "ResourceNotReadyException", 400, Client;
    ServiceQuotaExceeded => "ServiceQuotaExceededException", 400, Client;
    SessionNotFound => "SessionNotFoundException", 400, Client;
    Throttling => "ThrottlingException", 400, Client;
    VideoTooLarge => "VideoTooLargeException", 400, Client;
    // Protocol errors common to AWS JSON services.
    Serialization => "SerializationException", 400, Client;
    UnknownOperation => "UnknownOperationException", 400, Client;
    // An operation of the model that reko does not implement (yet).
    UnsupportedOperation => "UnsupportedOperationException", 400, Client;
    // Common AWS errors of a server under load or trouble (botocore retries both): the request body did
    // not arrive in time; the node cannot serve the request now (its store cannot write, or the analysis
    // missed the request's deadline).
    RequestTimeout => "RequestTimeoutException", 408, Client;
    ServiceUnavailable => "ServiceUnavailableException", 503, Server;
    // Authentication (SigV4).
    MissingAuthenticationToken => "MissingAuthenticationTokenException", 400, Client;
    IncompleteSignature => "IncompleteSignatureException", 400, Client;
    InvalidSignature => "InvalidSignatureException", 400, Client;
    UnrecognizedClient => "UnrecognizedClientException", 400, Client;
}

impl ErrorCode {
    /// The code whose `__type` is `name`, if any.
    pub fn from_type_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|code| code.type_name() == name)
    }
}

/// An error as the client sees it: a code and a message. Built at the boundary from each layer's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }

    /// The JSON body: `{"__type": ..., "Message": ...}`.
    pub fn to_body(&self) -> serde_json::Value {
        serde_json::json!({ "__type": self.code.type_name(), "Message": self.message })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.type_name(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceModel;

    #[test]
    fn every_model_exception_has_a_code_with_the_same_name() {
        let model = ServiceModel::get();
        for (name, shape) in &model.shapes {
            if shape.exception {
                let code = ErrorCode::from_type_name(name)
                    .unwrap_or_else(|| panic!("model exception {name} has no ErrorCode"));
                let expected = if shape.fault { Fault::Server } else { Fault::Client };
                // ThrottlingException is marked a fault in the model but is the caller's to retry.
                if name != "ThrottlingException" {
                    assert_eq!(code.fault(), expected, "{name}");
                }
            }
        }
    }

    #[test]
    fn only_server_faults_are_5xx() {
        for code in ErrorCode::ALL {
            let is_5xx = code.http_status() >= 500;
            assert_eq!(is_5xx, code.fault() == Fault::Server, "{code:?}");
        }
    }
}
