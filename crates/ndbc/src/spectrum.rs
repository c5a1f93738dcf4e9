//! The `spectrum` kind: one spectral wave record joined from up to five files (`.data_spec`,
//! `.swdir`, `.swdir2`, `.swr1`, `.swr2`) on the same station and time, its arrays aligned on
//! frequency.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::payload::{Entry, Payload};

/// A wave spectrum: frequencies and the arrays aligned on them (an array absent because its
/// file was not joined is `None`; a missing value in an array is `None`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Spectrum {
    /// `Sep_Freq` of `.data_spec`: frequency separating wind waves from swell, Hz (9.999 → `None`).
    pub separation_freq_hz: Option<f64>,
    /// Frequency of each bin, Hz, ascending as in the files.
    pub frequencies_hz: Vec<f64>,
    /// `.data_spec`: spectral energy density, m²/Hz.
    pub energy_density_m2_per_hz: Option<Vec<Option<f64>>>,
    /// `.swdir`: mean wave direction α1, degrees true (999 → `None`).
    pub mean_dir_deg: Option<Vec<Option<f64>>>,
    /// `.swdir2`: principal wave direction α2, degrees true (999 → `None`).
    pub principal_dir_deg: Option<Vec<Option<f64>>>,
    /// `.swr1`: first normalized polar coordinate r1 (999 → `None`).
    pub r1: Option<Vec<Option<f64>>>,
    /// `.swr2`: second normalized polar coordinate r2 (999 → `None`).
    pub r2: Option<Vec<Option<f64>>>,
}

impl Spectrum {
    /// Merge `other` into `self`: the frequencies become the sorted union of both, every array
    /// is re-aligned on it (a bin an array lacks is `None`), and `other`'s present arrays and
    /// separation frequency replace `self`'s. Returns whether `self` changed.
    pub fn merge(&mut self, other: &Spectrum) -> bool {
        let before = self.clone();
        if self.frequencies_hz == other.frequencies_hz {
            if other.separation_freq_hz.is_some() {
                self.separation_freq_hz = other.separation_freq_hz;
            }
            for (mine, theirs) in self.arrays_mut().into_iter().zip(other.arrays()) {
                if theirs.is_some() {
                    mine.clone_from(theirs);
                }
            }
        } else {
            let mut union: Vec<f64> = self
                .frequencies_hz
                .iter()
                .chain(&other.frequencies_hz)
                .copied()
                .collect();
            union.sort_by(f64::total_cmp);
            union.dedup_by(|a, b| a.total_cmp(b).is_eq());
            let own_freqs = std::mem::take(&mut self.frequencies_hz);
            for mine in self.arrays_mut() {
                if let Some(values) = mine.take() {
                    *mine = Some(realign(&own_freqs, &values, &union));
                }
            }
            for (mine, theirs) in self.arrays_mut().into_iter().zip(other.arrays()) {
                if let Some(values) = theirs {
                    *mine = Some(realign(&other.frequencies_hz, values, &union));
                }
            }
            if other.separation_freq_hz.is_some() {
                self.separation_freq_hz = other.separation_freq_hz;
            }
            self.frequencies_hz = union;
        }
        *self != before
    }

    fn arrays(&self) -> [&Option<Vec<Option<f64>>>; 5] {
        [
            &self.energy_density_m2_per_hz,
            &self.mean_dir_deg,
            &self.principal_dir_deg,
            &self.r1,
            &self.r2,
        ]
    }

    fn arrays_mut(&mut self) -> [&mut Option<Vec<Option<f64>>>; 5] {
        [
            &mut self.energy_density_m2_per_hz,
            &mut self.mean_dir_deg,
            &mut self.principal_dir_deg,
            &mut self.r1,
            &mut self.r2,
        ]
    }
}

/// `values` given on `freqs`, placed on `union` (which contains every frequency of `freqs`).
fn realign(freqs: &[f64], values: &[Option<f64>], union: &[f64]) -> Vec<Option<f64>> {
    let mut out = vec![None; union.len()];
    for (f, v) in freqs.iter().zip(values) {
        if let Ok(i) = union.binary_search_by(|u| u.total_cmp(f))
            && let Some(slot) = out.get_mut(i)
        {
            *slot = *v;
        }
    }
    out
}

/// Join spectral entries of the same time (from the five spectral files of one station) into
/// one [`Spectrum`] each, merged in input order ([`Spectrum::merge`]); other entries pass
/// through unchanged. The output is sorted by time (stable: equal times keep input order).
pub fn join_spectra(entries: impl IntoIterator<Item = Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut at: HashMap<NaiveDateTime, usize> = HashMap::new();
    for entry in entries {
        if let Payload::Spectrum(s) = &entry.payload {
            if let Some(Entry {
                payload: Payload::Spectrum(joined),
                ..
            }) = at.get(&entry.time).and_then(|&i| out.get_mut(i))
            {
                joined.merge(s);
                continue;
            }
            at.insert(entry.time, out.len());
        }
        out.push(entry);
    }
    out.sort_by_key(|e| e.time);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(freqs: &[f64]) -> Spectrum {
        Spectrum {
            frequencies_hz: freqs.to_vec(),
            ..Spectrum::default()
        }
    }

    #[test]
    fn merge_same_frequencies() {
        let mut a = spec(&[0.1, 0.2]);
        a.energy_density_m2_per_hz = Some(vec![Some(1.0), None]);
        a.separation_freq_hz = Some(0.15);
        let mut b = spec(&[0.1, 0.2]);
        b.r1 = Some(vec![Some(0.5), Some(0.6)]);
        assert!(a.merge(&b));
        assert_eq!(a.r1, Some(vec![Some(0.5), Some(0.6)]));
        assert_eq!(a.separation_freq_hz, Some(0.15));
        assert!(!a.merge(&b), "merging again changes nothing");
    }

    #[test]
    fn merge_aligns_on_union() {
        let mut a = spec(&[0.1, 0.3]);
        a.energy_density_m2_per_hz = Some(vec![Some(1.0), Some(3.0)]);
        let mut b = spec(&[0.2, 0.3]);
        b.mean_dir_deg = Some(vec![Some(20.0), Some(30.0)]);
        assert!(a.merge(&b));
        assert_eq!(a.frequencies_hz, vec![0.1, 0.2, 0.3]);
        assert_eq!(
            a.energy_density_m2_per_hz,
            Some(vec![Some(1.0), None, Some(3.0)])
        );
        assert_eq!(a.mean_dir_deg, Some(vec![None, Some(20.0), Some(30.0)]));
        assert_eq!(a.r2, None);
    }
}
