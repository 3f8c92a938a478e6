// TaskStream: an Orleans silo that streams tasks from its database as Server-Sent Events.
// `dotnet run --project src/Silo` serves http://localhost:8000 on a SQLite file it creates on first start.
await TaskStream.Silo.TaskStreamHost.Build(args).RunAsync();
