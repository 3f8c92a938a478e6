// Validates the OpenAPI document at the URL given against the OpenAPI schemas (an implementation independent of
// ASP.NET Core's), and reports one line: {"step":"validated","valid":…,"version":…,"errors":…}.
import { Validator } from "@seriousme/openapi-schema-validator";

const response = await fetch(process.argv[2]);
const document = await response.json();
const validator = new Validator();
const result = await validator.validate(document);
console.log(JSON.stringify({ step: "validated", valid: result.valid, version: validator.version, errors: result.errors ?? null }));
