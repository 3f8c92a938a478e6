// TaskStream: an Orleans silo that streams tasks from its database as Server-Sent Events.
// `dotnet run --project src/Silo` serves http://localhost:8000 on the SQLite file src/Silo/tasks.db, created on first start.
return await TaskStream.Silo.TaskStreamHost.RunAsync(args);
