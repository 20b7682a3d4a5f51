//! Routing of the HTTP request that opens every connection: what `rill_embassy::accept` answers.
//!
//! One request per connection (`Connection: close`): a plain HTTP answer ends the connection, an upgrade turns it
//! into a WebSocket.

use rill_embassy::{Decision, Request};

use crate::{Route, INDEX_HTML};

/// The route `request` asks for and the answer to give it: the page from flash on `/`, an upgrade on `/echo` and
/// `/tokens` (a request without the upgrade headers gets 426 from rill), 404 elsewhere, 405 for anything but GET.
pub fn decide(request: &Request<'_>) -> (Route, Decision<'static>) {
    let route = Route::from_path(request.target().as_bytes());
    let decision = if request.method() != "GET" {
        Decision::Reject {
            status: 405,
            reason: "only GET\n",
        }
    } else {
        match route {
            Route::Index => Decision::Respond {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: INDEX_HTML,
            },
            Route::Echo | Route::Tokens => Decision::accept(),
            Route::NotFound => Decision::Reject {
                status: 404,
                reason: "not found\n",
            },
        }
    };
    (route, decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_ws::handshake::server::parse_request;
    use rill_ws::handshake::Parsed;

    fn decide_raw(raw: &[u8]) -> (Route, Decision<'static>) {
        match parse_request(raw, 1024) {
            Ok(Parsed::Complete { value, .. }) => decide(&value),
            _ => panic!("not a complete request"),
        }
    }

    #[test]
    fn routes() {
        let (route, d) = decide_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(route, Route::Index);
        assert!(matches!(d, Decision::Respond { status: 200, body, .. } if body == INDEX_HTML));
        let (route, d) = decide_raw(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(route, Route::Echo);
        assert!(matches!(d, Decision::Accept { protocol: None, .. }));
        let (route, d) = decide_raw(b"GET /tokens?x=1 HTTP/1.1\r\n\r\n");
        assert_eq!(route, Route::Tokens);
        assert!(matches!(d, Decision::Accept { .. }));
        let (_, d) = decide_raw(b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(matches!(d, Decision::Reject { status: 404, .. }));
        let (route, d) = decide_raw(b"POST /echo HTTP/1.1\r\n\r\n");
        assert_eq!(route, Route::Echo);
        assert!(matches!(d, Decision::Reject { status: 405, .. }));
    }
}
