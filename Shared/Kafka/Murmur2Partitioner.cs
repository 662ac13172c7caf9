namespace KafkaPipeline.Shared;

/// <summary>
/// Kafka's default partitioner (murmur2 of the key bytes, as the Java client does), computed here so the
/// source knows which partition each row goes to.
/// </summary>
public static class Murmur2Partitioner
{
    public static int Partition(ReadOnlySpan<byte> key, int partitionCount) =>
        (int)((uint)(Hash(key) & 0x7fffffff) % (uint)partitionCount);

    public static int Hash(ReadOnlySpan<byte> data)
    {
        const uint seed = 0x9747b28c;
        const uint m = 0x5bd1e995;
        const int r = 24;
        var length = data.Length;
        var h = seed ^ (uint)length;
        var i = 0;
        for (; i + 4 <= length; i += 4)
        {
            var k = (uint)(data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24);
            k *= m;
            k ^= k >> r;
            k *= m;
            h *= m;
            h ^= k;
        }
        switch (length - i)
        {
            case 3:
                h ^= (uint)data[i + 2] << 16;
                goto case 2;
            case 2:
                h ^= (uint)data[i + 1] << 8;
                goto case 1;
            case 1:
                h ^= data[i];
                h *= m;
                break;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return (int)h;
    }
}
