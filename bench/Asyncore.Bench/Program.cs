using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Asyncore.Bench -- --filter '*'
// (BenchmarkDotNet's switcher: --filter '*Framer*', --list flat, --job short, ...)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
