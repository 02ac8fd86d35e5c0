//! "Did you mean" suggestions for misspelt keys and variable names.

/// The candidate closest to `input` by edit distance (case-insensitive), if
/// it is close enough to be a likely typo: at most a third of the input's
/// length in edits, and at least one edit allowed. Ties go to the earliest
/// candidate.
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input = input.to_lowercase();
    let limit = (input.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&input, &candidate.to_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two strings, counted in chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `previous[j]` is the distance between the first i-1 chars of `a` and
    // the first j chars of `b`; `current` is the row being filled for i.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.chars().enumerate() {
        current.clear();
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .map_or(usize::MAX, |d| d + usize::from(ca != *cb));
            let delete = previous.get(j + 1).map_or(usize::MAX, |d| d + 1);
            let insert = current.get(j).map_or(usize::MAX, |d| d + 1);
            current.push(substitute.min(delete).min(insert));
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("retention.msx", "retention.ms"), 1);
        assert_eq!(edit_distance("ab", "ba"), 2);
    }

    #[test]
    fn close_typo_is_suggested() {
        let keys = ["retention.ms", "retention.bytes", "segment.ms"];
        assert_eq!(closest("retention.msx", keys), Some("retention.ms"));
        assert_eq!(closest("Retention.Bytes", keys), Some("retention.bytes"));
        assert_eq!(closest("segmnt.ms", keys), Some("segment.ms"));
    }

    #[test]
    fn distant_input_gets_no_suggestion() {
        assert_eq!(closest("compression.type", ["retention.ms"]), None);
        assert_eq!(closest("x", ["listen"]), None);
    }

    #[test]
    fn ties_go_to_the_first_candidate() {
        assert_eq!(closest("ab", ["aa", "bb"]), Some("aa"));
    }
}
