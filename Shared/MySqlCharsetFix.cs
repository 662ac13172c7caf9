using System.Collections;
using System.Reflection;
using MySql.Data.MySqlClient;

namespace KafkaPipeline.Shared;

/// <summary>
/// MariaDB 10.6+ and MySQL 8.0.30+ name the 3-byte UTF-8 charset <c>utf8mb3</c>; MySql.Data 8.0.16 predates that name
/// and throws "Character set 'utf8mb3' is not supported" for any result column in it (information_schema, and the
/// SHOW WARNINGS the driver runs by itself after a statement that left a note). utf8mb3 is the driver's old
/// <c>utf8</c>, so <see cref="Apply"/> adds the new name to the driver's internal charset map, pointing at that entry.
/// Call it once before the first MySQL connection; it is idempotent and thread-safe.
/// </summary>
public static class MySqlCharsetFix
{
    private static readonly object Gate = new();
    private static bool applied;

    public static void Apply()
    {
        lock (Gate)
        {
            if (applied)
            {
                return;
            }

            const BindingFlags Static = BindingFlags.Static | BindingFlags.NonPublic;
            var charSetMap = typeof(MySqlConnection).Assembly.GetType("MySql.Data.MySqlClient.CharSetMap");
            // Reading the field runs the class's static constructor, which fills the map.
            var map = charSetMap?.GetField("_mapping", Static)?.GetValue(null) as IDictionary;
            if (map is null || !map.Contains("utf8"))
            {
                throw new InvalidOperationException(
                    "MySqlCharsetFix: MySql.Data's internal CharSetMap._mapping (with a 'utf8' entry) was not found in " +
                    $"{typeof(MySqlConnection).Assembly.FullName}; the utf8mb3 workaround needs updating for this driver version.");
            }

            // The driver guards its own updates of the map with CharSetMap.LockObject.
            var driverLock = charSetMap!.GetField("LockObject", Static)?.GetValue(null) ?? map;
            lock (driverLock)
            {
                if (!map.Contains("utf8mb3"))
                {
                    map["utf8mb3"] = map["utf8"];
                }
            }

            applied = true;
        }
    }
}
