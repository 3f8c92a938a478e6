using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace TaskStream.Api;

/// <summary>The problem answers that more than one endpoint gives, each built here only.</summary>
internal static class Problems
{
    /// <summary>400 naming every field in <paramref name="errors"/>; <paramref name="what"/> says what was invalid.</summary>
    public static ValidationProblem Invalid(Dictionary<string, string[]> errors, string what = "request") =>
        TypedResults.ValidationProblem(errors, detail: $"Invalid {what}: {string.Join(", ", errors.Keys)}.");

    public static ProblemHttpResult NotFound(long id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"There is no task {id}.");
}
