using System.Globalization;

namespace Soak;

/// <summary>"--name value" pairs and bare "--flag"s. A name nobody asked for is an error, so a typo does not silently run the defaults.</summary>
sealed class Options
{
    private readonly Dictionary<string, string> _values = new();
    private readonly HashSet<string> _asked = new();

    public Options(IEnumerable<string> args)
    {
        string[] a = args.ToArray();
        for (int i = 0; i < a.Length; i++)
        {
            if (!a[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"expected an option, got '{a[i]}'");
            }

            bool hasValue = i + 1 < a.Length && !a[i + 1].StartsWith("--", StringComparison.Ordinal);
            _values[a[i][2..]] = hasValue ? a[++i] : "true";
        }
    }

    public string Text(string name, string fallback)
    {
        _asked.Add(name);
        return _values.TryGetValue(name, out string? v) ? v : fallback;
    }

    public int Int(string name, int fallback) => int.Parse(Text(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    public double Double(string name, double fallback) => double.Parse(Text(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    public bool Flag(string name) => bool.Parse(Text(name, "false"));

    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>Call once every option was read.</summary>
    public void RejectUnknown()
    {
        foreach (string name in _values.Keys)
        {
            if (!_asked.Contains(name))
            {
                throw new ArgumentException($"unknown option --{name}");
            }
        }
    }
}
