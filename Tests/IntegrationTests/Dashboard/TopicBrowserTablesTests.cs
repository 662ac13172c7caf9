using System.Net;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using KafkaPipeline.Dashboard;
using KafkaPipeline.IntegrationTests.Sinks;
using Microsoft.Extensions.Options;

namespace KafkaPipeline.IntegrationTests.Dashboard;

/// <summary>The topic browser with two tables (Pipeline:Tables=users,orders) on an embedded Kafka, over HTTP.</summary>
public sealed class TopicBrowserTablesTests
{
    private static byte[] Order(long id, string card) => Encoding.UTF8.GetBytes(
        """{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},""" +
        """{"type":"string","optional":true,"field":"card"}],"optional":false,"name":"kafkapipeline.public.orders.Value"},""" +
        $"\"payload\":{{\"id\":{id},\"name\":\"Widget {id}\",\"card\":\"{card}\"}}}}");

    [Fact]
    public async Task It_lists_every_tables_topic_and_dead_letter_topic_and_masks_each_tables_own_personal_fields()
    {
        await using var kit = new DashboardTestKit();
        var users = Enumerable.Range(1, 4).Select(i => DashboardTestKit.User(i)).ToList();
        kit.Kafka.ProduceUsers(users);
        kit.Kafka.Kafka.CreateTopic("P_ORDERS", 4);
        kit.Kafka.Kafka.CreateTopic("P_ORDERS.dlq", 1);
        kit.Kafka.Kafka.CreateTopic("P_INVOICES", 1); // a table's topic, but not of a table the pipeline carries
        for (var i = 1; i <= 3; i++)
            await kit.Kafka.Producer.ProduceAsync(new TopicPartition("P_ORDERS", 0), new Message<byte[]?, byte[]?> { Key = SinkTestKit.Key(i), Value = Order(i, $"4111-0000-0000-000{i}") });
        await kit.Kafka.Producer.ProduceAsync("P_ORDERS.dlq", new Message<byte[]?, byte[]?> { Key = SinkTestKit.Key(9), Value = Order(9, "4111-0000-0000-0009") });
        var (_, url) = await kit.StartAsync("--Pipeline:Tables=users,orders", "--Dashboard:PersonalFields:orders:0=card");
        using var client = await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.BrowserToken);

        using (var cluster = JsonDocument.Parse(await client.GetStringAsync("/api/kafka/cluster")))
        {
            var topics = cluster.RootElement.GetProperty("topics").EnumerateArray().ToList();
            Assert.Equal(["P_ORDERS", "P_ORDERS.dlq", "P_USERS", "P_USERS.dlq"], topics.Select(t => t.GetProperty("name").GetString()));
            Assert.Equal(3, topics[0].GetProperty("partitions").EnumerateArray().Sum(p => p.GetProperty("high").GetInt64()));
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/kafka/messages?topic=P_INVOICES&partition=0")).StatusCode);

        // orders: its card masked, its name (personal for users, not for orders) shown; the same in its dead-letter topic.
        var orders = await client.GetStringAsync("/api/kafka/messages?topic=P_ORDERS&partition=0&limit=100");
        var deadOrders = await client.GetStringAsync("/api/kafka/messages?topic=P_ORDERS.dlq&partition=0&limit=100");
        foreach (var body in new[] { orders, deadOrders })
        {
            using var doc = JsonDocument.Parse(body);
            var messages = doc.RootElement.GetProperty("messages").EnumerateArray().ToList();
            Assert.NotEmpty(messages);
            foreach (var m in messages)
            {
                using var value = JsonDocument.Parse(m.GetProperty("value").GetString()!);
                var payload = value.RootElement.GetProperty("payload");
                Assert.Equal(MessageDisplay.Mask, payload.GetProperty("card").GetString());
                Assert.StartsWith("Widget ", payload.GetProperty("name").GetString(), StringComparison.Ordinal);
            }
            Assert.DoesNotContain("4111-0000", body, StringComparison.Ordinal);
        }
        Assert.Equal(3, JsonDocument.Parse(orders).RootElement.GetProperty("messages").GetArrayLength());

        // users: still the users' own fields.
        var shownUsers = new StringBuilder();
        for (var p = 0; p < SinkTestKit.Partitions; p++) shownUsers.Append(await client.GetStringAsync($"/api/kafka/messages?topic=P_USERS&partition={p}"));
        Assert.Contains(MessageDisplay.Mask, shownUsers.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Vexmarsh", shownUsers.ToString(), StringComparison.Ordinal);
        Assert.Contains("Cartographer", shownUsers.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_Pipeline_Tables_it_lists_the_users_topics_only_and_a_bad_value_stops_the_start_naming_it()
    {
        await using var kit = new DashboardTestKit();
        kit.Kafka.Kafka.CreateTopic("P_ORDERS", 4);
        var (_, url) = await kit.StartAsync();
        using var client = await DashboardTestKit.LoggedInAsync(url, DashboardTestKit.BrowserToken);
        using (var cluster = JsonDocument.Parse(await client.GetStringAsync("/api/kafka/cluster")))
            Assert.Equal(["P_USERS", "P_USERS.dlq"], cluster.RootElement.GetProperty("topics").EnumerateArray().Select(t => t.GetProperty("name").GetString()));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => kit.StartAsync("--Pipeline:Tables=users;orders"));
        Assert.Contains("Pipeline:Tables", error.Message, StringComparison.Ordinal);
        error = await Assert.ThrowsAsync<OptionsValidationException>(() => kit.StartAsync("--Pipeline:Tables=users", "--Dashboard:PersonalFields:a.b.c:0=x"));
        Assert.Contains("Dashboard:PersonalFields:a.b.c", error.Message, StringComparison.Ordinal);
    }
}
