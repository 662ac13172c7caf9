using System.Net;
using System.Net.Sockets;

namespace KafkaPipeline.IntegrationTests.Infrastructure;

/// <summary>
/// A TCP forwarder to a server that a test can switch off (connections refused and cut) and on again: an outage of
/// a shared server (s3rver, MariaDB) for one service only, without stopping the server other tests use.
/// </summary>
internal sealed class TcpToggleProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private volatile bool _down;

    public TcpToggleProxy(Uri target)
    {
        _target = target;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>A proxy in front of the MySQL server of <paramref name="connectionString"/>.</summary>
    public static TcpToggleProxy ForMySql(string connectionString)
    {
        var b = new MySqlConnector.MySqlConnectionStringBuilder(connectionString);
        return new TcpToggleProxy(new Uri($"tcp://{(b.Server == "localhost" ? "127.0.0.1" : b.Server)}:{b.Port}"));
    }

    /// <summary><paramref name="connectionString"/> pointed at this proxy.</summary>
    public string Rewrite(string connectionString) =>
        new MySqlConnector.MySqlConnectionStringBuilder(connectionString) { Server = "127.0.0.1", Port = (uint)Port }.ConnectionString;

    /// <summary>Cuts every open connection; new ones are closed as soon as they are accepted.</summary>
    public void Down()
    {
        _down = true;
        lock (_open)
        {
            foreach (var c in _open) c.Dispose();
            _open.Clear();
        }
    }

    public void Up() => _down = false;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            if (_down)
            {
                client.Client.LingerState = new LingerOption(true, 0); // reset, not a graceful close
                client.Dispose();
                continue;
            }
            _ = ForwardAsync(client);
        }
    }

    private async Task ForwardAsync(TcpClient client)
    {
        using var server = new TcpClient();
        lock (_open)
        {
            _open.Add(client);
            _open.Add(server);
        }
        try
        {
            await server.ConnectAsync(_target.Host, _target.Port, _stop.Token);
            var a = client.GetStream();
            var b = server.GetStream();
            await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
        }
        catch (Exception)
        {
            // A cut connection: the client sees it as a network error.
        }
        finally
        {
            client.Dispose();
            lock (_open)
            {
                _open.Remove(client);
                _open.Remove(server);
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        Down();
        _stop.Dispose();
    }
}
