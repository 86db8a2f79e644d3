// Azure Functions entry point (package.json "main"): importing a module registers its
// functions with the v4 programming model. Registrations only; the logic is in src/.
import "./http.js";
import "./delivery.js";
import "./timers.js";
import "./shards.js";
