//! The delivery `data` of the example's assistants: the public shape runtimes receive.

use stagecraft::model::{BlobReader, Chain, EnvName};
use stagecraft::webhook::{Origin, assistant_config, channels, data};

#[test]
fn the_delivered_config_of_every_example_assistant() {
    let (snapshot, blobs) = stagecraft::example::snapshot();
    let (config, diagnostics) = stagecraft::parse::load(&snapshot, &blobs, &Chain::default_chain());
    assert_eq!(diagnostics, []);
    let live = EnvName::new("live").unwrap();
    for (id, assistant) in &config.assistants {
        let file = |path: &str| {
            let full = format!("assistants/{id}/files/{path}");
            snapshot.get(&full).and_then(|entry| blobs.read(&full, entry).ok())
        };
        let origin = Origin {
            environment: "live",
            commit: "0123456789abcdef0123456789abcdef01234567",
            version: Some(3),
            sequence: 12,
        };
        let (config_value, channels_value) =
            (assistant_config(assistant, &file), channels(config.channels.binding(&live, id)));
        let bytes = data(&origin, id.as_str(), Some(&config_value), Some(&channels_value));
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        // Every file knowledge source carries its content.
        for item in value["config"]["knowledge"].as_array().unwrap() {
            if item["kind"] == "file" {
                assert_eq!(item["content"]["encoding"], "utf-8", "{item}");
            }
        }
        insta::assert_json_snapshot!(format!("delivered-{id}"), value);
    }
}
