//! Four validators as separate processes decide the same blocks.

mod common;

use std::time::Duration;

use common::Devnet;

#[test]
fn four_validators_decide_the_same_blocks() {
    let mut net = Devnet::create("decide", 300, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 5, Duration::from_secs(90));
    for height in 1..=5 {
        let ids: Vec<String> = (0..4)
            .map(|i| net.block(i, height)["block_id"].as_str().unwrap().to_string())
            .collect();
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "height {height}: block ids differ: {ids:?}"
        );
        let cert = &net.block(0, height)["certificate"];
        assert!(cert["signatures"].as_array().unwrap().len() >= 3);
    }
}
