//! Histograms: [`Histogram`] and [`HistogramVec`].
use super::*;

single_series_handle!(
    /// A histogram: observations counted into buckets, with their sum and count.
    /// Cloning shares the values.
    Histogram,
    HistogramCell
);
family_handle!(
    /// A family of [`Histogram`]s told apart by the values of its variable labels.
    HistogramVec,
    Histogram,
    HistogramCell
);

striped!(
    HistogramVec,
    /// Gives the series this family creates from now on one set of counts per thread that
    /// observes: each thread writes its own with plain loads and stores (no locked
    /// instruction, no cache line shared with another thread), and a read sums them
    /// (exact). It costs a set of counts (the buckets, the sum, and the native buckets of a
    /// native histogram) per thread and series, made at the thread's first observation.
);

set_source!(Histogram, TallySource, |cell| cell.takes_source(), |s| cell
    .set_source(s));

impl Histogram {
    /// A standalone histogram named exactly `name`, outside any runtime; `None` buckets means
    /// [`DEFAULT_BUCKETS`](crate::DEFAULT_BUCKETS).
    ///
    /// # Errors
    /// [`Error::InvalidName`](crate::Error::InvalidName), [`Error::EmptyHelp`](crate::Error::EmptyHelp) or [`Error::InvalidBuckets`](crate::Error::InvalidBuckets).
    #[track_caller]
    pub fn new(name: &str, help: &str, buckets: Option<&[f64]>) -> Result<Self> {
        let family = standalone::<HistogramCell>(name, help, &[], buckets)?;
        Ok(Self::from_series(family.get_or_create(&[], &[]).0))
    }

    /// Counts `v` into its bucket and adds it to the sum: one atomic add and one
    /// compare-and-swap loop, or, striped, a load and a store of this thread's counts for
    /// each. NaN is ignored.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.with_cell(|c| c.observe(v));
    }

    /// Observes a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observes `v` and keeps it as its bucket's exemplar with `labels` (a trace id, say),
    /// shown in OpenMetrics and protobuf scrapes. Labels longer than
    /// [`MAX_EXEMPLAR_LABEL_CHARS`](crate::MAX_EXEMPLAR_LABEL_CHARS) in all drop the
    /// exemplar (counted by `dynamo_metrics_exemplars_dropped_total`), never the observation.
    pub fn observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        self.with_cell(|c| match Exemplar::new(labels, v) {
            Some(e) => c.observe_with_exemplar(v, e),
            None => c.observe(v),
        });
    }

    /// How many observations were made.
    pub fn sample_count(&self) -> u64 {
        self.with_cell(HistogramCell::count)
    }

    /// The sum of all observations.
    pub fn sample_sum(&self) -> f64 {
        self.with_cell(HistogramCell::sum)
    }
}

impl HistogramVec {
    /// A standalone labelled histogram family named exactly `name`, outside any runtime.
    ///
    /// # Errors
    /// [`Error::InvalidName`](crate::Error::InvalidName), [`Error::DuplicateLabel`](crate::Error::DuplicateLabel), [`Error::EmptyHelp`](crate::Error::EmptyHelp) or
    /// [`Error::InvalidBuckets`](crate::Error::InvalidBuckets).
    #[track_caller]
    pub fn new(
        name: &str,
        help: &str,
        label_names: &[&str],
        buckets: Option<&[f64]>,
    ) -> Result<Self> {
        let family = standalone::<HistogramCell>(name, help, label_names, buckets)?;
        Ok(Self::from_view(View::new(family, Box::default())))
    }
}
