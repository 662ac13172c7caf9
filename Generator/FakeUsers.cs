using Bogus;
using Bogus.Extensions.UnitedStates;

namespace KafkaPipeline.Generator;

/// <summary>A fake customer, like the tutorial's Faker profile (the database assigns id and timestamps).</summary>
public sealed record NewUser(
    string Name, string Username, string Sex, string Address, string Mail, DateOnly Birthdate,
    string Job, string Company, string Ssn, string Residence);

/// <summary>Bogus-based generator of fake customers; not thread-safe (one per generator loop).</summary>
public sealed class FakeUsers
{
    private readonly Faker _faker;

    public FakeUsers(int? seed) => _faker = seed is { } s ? new Faker { Random = new Randomizer(s) } : new Faker();

    public NewUser Next()
    {
        var person = new Person(locale: "en", seed: _faker.Random.Int());
        return new NewUser(
            Name: person.FullName,
            Username: person.UserName,
            Sex: person.Gender == Bogus.DataSets.Name.Gender.Female ? "F" : "M",
            Address: $"{person.Address.Street}, {person.Address.City} {person.Address.ZipCode}",
            Mail: person.Email,
            Birthdate: DateOnly.FromDateTime(person.DateOfBirth),
            Job: _faker.Name.JobTitle(),
            Company: person.Company.Name,
            Ssn: person.Ssn(),
            // Where the customer signs up from: a country, so the live screen can group by it.
            Residence: _faker.Address.Country());
    }

    public string NextJob() => _faker.Name.JobTitle();

    public string NextCountry() => _faker.Address.Country();

    public long NextId(long maxId) => _faker.Random.Long(1, maxId);
}
