//! Properties of the three-way merge used by revert: merging with no change on their side
//! gives ours unchanged, byte for byte; edits to different fields never conflict and both
//! arrive.

use proptest::prelude::*;
use stagecraft::merge::merge_toml;

type Sections = std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>;

fn sections() -> impl Strategy<Value = Sections> {
    prop::collection::btree_map("[a-c]", prop::collection::btree_map("[a-e]", -50i64..50, 1..5), 1..4)
}

fn render(sections: &Sections, comments: bool) -> String {
    let mut out = String::new();
    for (name, keys) in sections {
        if comments {
            out.push_str(&format!("# section {name}\n"));
        }
        out.push_str(&format!("[{name}]\n"));
        for (key, value) in keys {
            out.push_str(&format!("{key} = {value}{}\n", if comments { " # note" } else { "" }));
        }
        out.push('\n');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn merging_an_unchanged_side_gives_ours_byte_for_byte(base in sections(), ours in sections()) {
        let (base_text, ours_text) = (render(&base, false), render(&ours, true));
        prop_assert_eq!(merge_toml("f.toml", &base_text, &ours_text, &base_text, &|_| true).unwrap(), ours_text);
    }

    #[test]
    fn edits_to_different_fields_never_conflict(base in sections(), picks in prop::collection::vec(0u8..3, 0..20)) {
        // Each leaf is left alone (0), changed by ours (1), or changed by theirs (2).
        let mut ours = base.clone();
        let mut theirs = base.clone();
        let mut expected = base.clone();
        let leaves: Vec<(String, String)> = base.iter().flat_map(|(s, keys)| keys.keys().map(move |k| (s.clone(), k.clone()))).collect();
        for ((section, key), pick) in leaves.iter().zip(picks.iter()) {
            let target = match pick { 1 => &mut ours, 2 => &mut theirs, _ => continue };
            let value = target.get_mut(section).unwrap().get_mut(key).unwrap();
            *value += 100;
            *expected.get_mut(section).unwrap().get_mut(key).unwrap() += 100;
        }
        let merged = merge_toml("f.toml", &render(&base, false), &render(&ours, true), &render(&theirs, false), &|_| true);
        let merged = merged.unwrap_or_else(|c| panic!("conflicts: {c:?}"));
        prop_assert!(merged.contains("# note"), "comments stay: {}", merged);
        let parsed: toml::Table = merged.parse().unwrap();
        let want: toml::Table = render(&expected, false).parse().unwrap();
        prop_assert_eq!(parsed, want);
    }
}
