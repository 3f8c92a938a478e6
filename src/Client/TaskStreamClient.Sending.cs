using System.Net;
using System.Runtime.ExceptionServices;

namespace TaskStream.Client;

// How every request is sent: at the current address, tried again on failures a later attempt may not meet.
public sealed partial class TaskStreamClient
{
    /// <summary>Sends a request built anew for each attempt, until an answer that is not worth waiting out (or no retries are left).</summary>
    private async Task<HttpResponseMessage> SendAsync(Func<Func<string, Uri>, HttpRequestMessage> request, CancellationToken cancellationToken)
    {
        for (var failures = 0; ; failures++)
        {
            var attempt = await AttemptAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
            if (!attempt.ShouldRetry || failures >= _options.MaxRetries)
            {
                return attempt.Answer();
            }

            attempt.Response?.Dispose();
            await Task.Delay(attempt.RetryAfter ?? _options.RetryDelay, cancellationToken);
        }
    }

    /// <summary>One try at the current address. No answer, or a retryable one other than 429 (which is about this client), moves on to the next address.</summary>
    private async Task<Attempt> AttemptAsync(Func<Func<string, Uri>, HttpRequestMessage> request, HttpCompletionOption completion,
        CancellationToken cancellationToken)
    {
        var at = _addresses.Current;
        try
        {
            var response = await http.SendAsync(request(path => _addresses.Resolve(at, path)), completion, cancellationToken);
            if (response.StatusCode != HttpStatusCode.TooManyRequests && IsRetryable(response.StatusCode))
            {
                _addresses.Failed(at);
            }

            return new Attempt(response, null);
        }
        catch (Exception exception) when (IsTransportFailure(exception, cancellationToken))
        {
            _addresses.Failed(at);
            return new Attempt(null, ExceptionDispatchInfo.Capture(exception));
        }
    }

    /// <summary>The connection failed or broke, or the HttpClient's own timeout passed: the server may be fine at another try or address.</summary>
    private static bool IsTransportFailure(Exception exception, CancellationToken cancellationToken) => exception switch
    {
        TaskStreamProblemException => false,
        HttpRequestException or IOException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    /// <summary>
    /// Answers a later attempt may not get: 429 (wait), 500 (this silo failed the request), 502-504 (not here, not now).
    /// Every request this client sends may be sent again: reads, and writes under their idempotency key.
    /// </summary>
    private static bool IsRetryable(HttpStatusCode status) => status is HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError
        or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    private static TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > DateTimeOffset.UtcNow ? date - DateTimeOffset.UtcNow : TimeSpan.Zero,
        _ => null,
    };

    /// <summary>An answer, or the failure that stood in for one.</summary>
    private readonly record struct Attempt(HttpResponseMessage? Response, ExceptionDispatchInfo? Failure)
    {
        public bool ShouldRetry => Response is null || IsRetryable(Response.StatusCode);

        public TimeSpan? RetryAfter => Response is null ? null : TaskStreamClient.RetryAfter(Response);

        public HttpResponseMessage Answer()
        {
            Failure?.Throw();
            return Response!;
        }
    }
}
