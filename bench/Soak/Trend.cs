namespace Soak;

/// <summary>
/// A series after warm-up: first and last value, least-squares slope per minute, and whether it is
/// flat: the slope at most <c>Limit</c> per minute (see <see cref="Verdict"/> for the limits).
/// </summary>
sealed record Trend(double First, double Last, double SlopePerMinute, double Limit, bool Flat)
{
    /// <summary>Fits y = a + b·t (t in minutes) to the points by least squares.</summary>
    public static Trend Fit(IReadOnlyList<(double Seconds, double Value)> points, double limitPerMinute)
    {
        if (points.Count == 0)
        {
            return new Trend(double.NaN, double.NaN, double.NaN, limitPerMinute, false);
        }

        double slope = 0;
        if (points.Count >= 2)
        {
            double mt = points.Average(p => p.Seconds / 60), my = points.Average(p => p.Value);
            double sxy = points.Sum(p => (p.Seconds / 60 - mt) * (p.Value - my));
            double sxx = points.Sum(p => (p.Seconds / 60 - mt) * (p.Seconds / 60 - mt));
            slope = sxx > 0 ? sxy / sxx : 0;
        }

        return new Trend(points[0].Value, points[^1].Value, slope, limitPerMinute, points.Count >= 2 && slope <= limitPerMinute);
    }
}
