using KafkaPipeline.Shared;
using MySqlConnector;

namespace KafkaPipeline.MySqlSinkService;

/// <summary>The last change the sink made to a column: present (created, added, retyped) or dropped, as of which record's version.</summary>
public sealed record ColumnDecision(bool Present, string Type, RecordVersion Version);

/// <summary>
/// The sink's memory of its schema changes (table kafkapipeline_schema_changes, one row per column): the version of
/// the record each column was created, added, retyped or dropped for. Records of partitions that lag behind carry
/// older schemas; compared with this, an older record never re-adds a column a newer one dropped, never drops one a
/// newer one added, and an older type is not taken for a narrowing.
/// </summary>
public static class SchemaChanges
{
    public const string Table = "kafkapipeline_schema_changes";

    public const string CreateSql = $"""
        CREATE TABLE IF NOT EXISTS `{Table}` (
            `table_name` VARCHAR(64) NOT NULL,
            `column_name` VARCHAR(64) NOT NULL,
            `present` BOOLEAN NOT NULL COMMENT 'the column exists after this change (created, added, retyped) or not (dropped)',
            `column_type` VARCHAR(64) NOT NULL,
            `{RecordVersion.EpochColumn}` BIGINT UNSIGNED NOT NULL,
            `{RecordVersion.CommitLsnColumn}` BIGINT UNSIGNED NOT NULL,
            `{RecordVersion.ChangeLsnColumn}` BIGINT UNSIGNED NOT NULL,
            `{RecordVersion.TimeColumn}` DATETIME(6) NOT NULL COMMENT 'UTC',
            `changed_at` DATETIME(6) NOT NULL COMMENT 'UTC, when the sink changed the column',
            PRIMARY KEY (`table_name`, `column_name`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Schema changes of the MySQL sink: the record version each column was changed for'
        """;

    /// <summary>The decisions of one table by column name (case-insensitive, as MySQL's names).</summary>
    public static async Task<Dictionary<string, ColumnDecision>> ReadAsync(MySqlConnection conn, string table, CancellationToken ct)
    {
        var decisions = new Dictionary<string, ColumnDecision>(StringComparer.OrdinalIgnoreCase);
        await using var cmd = new MySqlCommand(
            $"SELECT `column_name`, `present`, `column_type`, {string.Join(", ", RecordVersion.Columns.Select(SqlIdentifier.QuoteMySql))} " +
            $"FROM `{Table}` WHERE `table_name` = @t", conn);
        cmd.Parameters.AddWithValue("@t", table);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var version = new RecordVersion((long)r.GetUInt64(3), r.GetUInt64(4), r.GetUInt64(5), r.GetDateTime(6));
            decisions[r.GetString(0)] = new ColumnDecision(r.GetBoolean(1), r.GetString(2), version);
        }
        return decisions;
    }

    public static async Task WriteAsync(MySqlConnection conn, string table, string column, ColumnDecision decision, CancellationToken ct)
    {
        var version = string.Join(", ", RecordVersion.Columns.Select(SqlIdentifier.QuoteMySql));
        await using var cmd = new MySqlCommand(
            $"INSERT INTO `{Table}` (`table_name`, `column_name`, `present`, `column_type`, {version}, `changed_at`) " +
            "VALUES (@t, @c, @present, @type, @epoch, @commit, @change, @time, UTC_TIMESTAMP(6)) " +
            // Parameters again rather than VALUES(), which Oracle MySQL deprecates.
            "ON DUPLICATE KEY UPDATE `present` = @present, `column_type` = @type, " +
            string.Join(", ", RecordVersion.Columns.Zip(["@epoch", "@commit", "@change", "@time"], (c, p) => $"`{c}` = {p}")) +
            ", `changed_at` = UTC_TIMESTAMP(6)", conn);
        cmd.Parameters.AddWithValue("@t", table);
        cmd.Parameters.AddWithValue("@c", column);
        cmd.Parameters.AddWithValue("@present", decision.Present);
        cmd.Parameters.AddWithValue("@type", decision.Type);
        var values = decision.Version.Values;
        cmd.Parameters.AddWithValue("@epoch", values[0]);
        cmd.Parameters.AddWithValue("@commit", values[1]);
        cmd.Parameters.AddWithValue("@change", values[2]);
        cmd.Parameters.AddWithValue("@time", values[3]);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
