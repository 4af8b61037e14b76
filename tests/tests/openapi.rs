//! The API answers as its OpenAPI description (`GET /v1/openapi.json`) says: schemathesis
//! (from PyPI; `.ci/run` installs it) generates requests from the description — valid
//! ones and ones that break it — against a devnet of four `xinbao-node` processes that
//! has replayed a worked example, and checks every answer: no server error, a status
//! code and content type the description lists, a body its schema accepts, valid input
//! accepted and invalid input refused.
//!
//! Submissions are checked for everything but "valid input accepted": a schema cannot say
//! what makes a signature valid, so generated transactions are refused, as they must be.
//! The event stream (which never ends) and the devnet clock (which generated times would
//! move) are left out.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn schemathesis(base: &str, extra: &[&str]) -> (bool, String) {
    let spec = format!("{base}/v1/openapi.json");
    let mut args = vec![
        "run",
        spec.as_str(),
        "--url",
        base,
        "--exclude-path",
        "/v1/events",
        "--exclude-path",
        "/v1/devnet/clock",
        "--max-examples",
        "30",
        "--generation-deterministic",
        "--request-timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    let output = Command::new("schemathesis")
        .args(&args)
        .env("NO_COLOR", "1")
        // It keeps a cache in its working directory: not in the source tree.
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "schemathesis did not run ({e}): install it with \
                 `pip install schemathesis==4.32.5`, as .ci/run does"
            )
        });
    let report = format!("{}{}", text(&output.stdout), text(&output.stderr));
    (output.status.success(), report)
}

#[test]
fn the_api_answers_as_its_openapi_description_says() {
    let _one = serial();
    let scenario = scenario_path("b-yunnan-style.json");
    let scenario = scenario.to_str().unwrap();
    let mut net = Devnet::init("openapi", &["--orgs-from", scenario], true);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));
    net.replay(scenario, 0);
    let node = &net.urls[0];

    let (status, spec) = get(node, "/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    // Callers beyond loopback present a client certificate; each operation names its roles.
    assert_eq!(
        spec["components"]["securitySchemes"]["clientCertificate"]["type"],
        "mutualTLS"
    );
    assert_eq!(
        spec["paths"]["/v1/tx"]["post"]["x-roles"],
        serde_json::json!(["staff"])
    );
    for path in [
        "/v1/claims/{id}",
        "/v1/programmes/{id}",
        "/v1/validators",
        "/v1/search",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is described");
    }

    let (reads_ok, reads) = schemathesis(node, &["--include-method", "GET"]);
    assert!(
        reads_ok,
        "the read API differs from its description:\n{reads}"
    );
    assert!(reads.contains("passed"), "{reads}");
    let (writes_ok, writes) = schemathesis(
        node,
        &[
            "--include-method",
            "POST",
            "--exclude-checks",
            "positive_data_acceptance",
        ],
    );
    assert!(
        writes_ok,
        "submission differs from its description:\n{writes}"
    );

    // Nothing the generated requests sent was accepted, and the chain still agrees.
    let height = net.height(0).unwrap();
    net.wait_height(&[0, 1, 2, 3], height, Duration::from_secs(30));
    net.assert_same_chain(&[0, 1, 2, 3], height);
}
