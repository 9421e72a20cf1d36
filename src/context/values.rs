//! The closed sets of values the questions accept, each spelled exactly as users type it
//! (see `Choice`). The refinements list their neutral value, the one that contributes nothing
//! to any score, as the default in `ProjectContext`. Values only: no parsing of files here.

use super::choice::choice;

choice! {
    /// What kind of software is being built.
    pub enum ProjectType {
        /// An HTTP API consumed by other programs.
        WebApi = "web-api" => "web-api (HTTP API for other programs)",
        /// A web product used by people through a browser.
        WebApplication = "web-application" => "web-application (used by people in a browser)",
        /// A command-line program.
        CliTool = "cli-tool" => "cli-tool (command-line program)",
        /// Ingests, transforms and loads data.
        DataPipeline = "data-pipeline" => "data-pipeline (ingest, transform, load)",
        /// A reusable package linked into other programs.
        Library = "library" => "library (linked into other programs)",
        /// One service among many in a larger system.
        Microservice = "microservice" => "microservice (one service among many)",
        /// An application installed on a desktop.
        DesktopApp = "desktop-app" => "desktop-app (installed on a desktop)",
        /// An application installed on phones, usually with a backend.
        MobileApp = "mobile-app" => "mobile-app (phone app with a backend)",
        /// A system with hard latency budgets and live updates.
        RealTimeSystem = "real-time-system" => "real-time-system (hard latency budgets)",
        /// A system processing continuous event streams.
        StreamingApp = "streaming-app" => "streaming-app (continuous event streams)",
    }
}

choice! {
    /// How intricate the business rules are.
    pub enum Complexity {
        /// Mostly data in, data out.
        Simple = "simple" => "simple (mostly CRUD)",
        /// Some real rules, a handful of workflows.
        Moderate = "moderate" => "moderate (some business rules)",
        /// Many interacting rules and workflows.
        Complex = "complex" => "complex (many interacting rules)",
        /// Several subdomains, each with deep rules.
        HighlyComplex = "highly-complex" => "highly-complex (several deep subdomains)",
    }
}

choice! {
    /// How many people build and run the system; a head count parses to its bucket.
    pub enum TeamSize {
        /// One to four people.
        Tiny = "<5" => "<5 people",
        /// Five to fifteen people.
        Small = "5-15" => "5-15 people",
        /// Sixteen to fifty people, several teams.
        Medium = "15-50" => "15-50 people (several teams)",
        /// More than fifty people.
        Large = "50+" => "50+ people (many teams)",
    }
    alias = team_size_from_head_count;
}

/// Maps a head count ("12") to its bucket; zero is not a team.
fn team_size_from_head_count(text: &str) -> Option<TeamSize> {
    match text.parse::<u32>().ok()? {
        0 => None,
        1..=4 => Some(TeamSize::Tiny),
        5..=15 => Some(TeamSize::Small),
        16..=50 => Some(TeamSize::Medium),
        _ => Some(TeamSize::Large),
    }
}

choice! {
    /// The implementation language; only Rust is rendered, the others inform the decision.
    pub enum Language {
        /// Rust (rendered).
        Rust = "rust" => "rust (rendered)",
        /// Go.
        Go = "go" => "go (decision only)",
        /// Java.
        Java = "java" => "java (decision only)",
        /// Kotlin.
        Kotlin = "kotlin" => "kotlin (decision only)",
        /// Python.
        Python = "python" => "python (decision only)",
        /// TypeScript.
        TypeScript = "typescript" => "typescript (decision only)",
        /// C#.
        CSharp = "csharp" => "csharp (decision only)",
    }
}

impl Language {
    /// Whether a repository can be rendered in this language (only Rust today).
    #[must_use]
    pub fn is_rendered(self) -> bool {
        self == Self::Rust
    }
}

choice! {
    /// How many users the system must serve.
    pub enum Scalability {
        /// Under a thousand users.
        Low = "low" => "low (<1K users)",
        /// Under a hundred thousand users.
        Moderate = "moderate" => "moderate (<100K users)",
        /// Under a million users.
        High = "high" => "high (<1M users)",
        /// Over a million users.
        Extreme = "extreme" => "extreme (>1M users)",
    }
}

choice! {
    /// How much harm a breach would do.
    pub enum Security {
        /// Ordinary business data.
        Standard = "standard" => "standard (ordinary business data)",
        /// Personal or financial data.
        High = "high" => "high (personal or financial data)",
        /// Regulated, payments, health or safety.
        Critical = "critical" => "critical (regulated: payments, health, safety)",
    }
}

choice! {
    /// How soon the first version must ship.
    pub enum TimeToMarket {
        /// Weeks: ship first, refine later.
        Rapid = "rapid" => "rapid (weeks)",
        /// Months.
        Normal = "normal" => "normal (months)",
        /// No deadline pressure.
        NotUrgent = "not-urgent" => "not-urgent (no deadline pressure)",
    }
}

choice! {
    /// How experienced the team is with the architecture styles on offer.
    pub enum TeamExperience {
        /// Mostly new to architecture patterns.
        Junior = "junior" => "junior (mostly new to these patterns)",
        /// A mix (neutral).
        Mixed = "mixed" => "mixed (neutral)",
        /// Has built and run several architectures.
        Senior = "senior" => "senior (has run several architectures)",
    }
}

choice! {
    /// What the team can operate: deployments, monitoring, on-call.
    pub enum OpsMaturity {
        /// Manual deploys, little monitoring.
        Basic = "basic" => "basic (manual deploys, little monitoring)",
        /// CI/CD and monitoring in place (neutral).
        Established = "established" => "established (CI/CD and monitoring; neutral)",
        /// Platform team, containers, tracing, on-call.
        Advanced = "advanced" => "advanced (platform team, tracing, on-call)",
    }
}

choice! {
    /// How long the system is expected to live and change.
    pub enum Lifespan {
        /// A prototype or a short-lived campaign.
        Short = "short" => "short (prototype, months)",
        /// A few years (neutral).
        Typical = "typical" => "typical (a few years; neutral)",
        /// A decade or more of change.
        Long = "long" => "long (a decade or more of change)",
    }
}

choice! {
    /// Whether business transactions tolerate eventual consistency.
    pub enum Consistency {
        /// Eventual consistency is acceptable (neutral).
        EventualOk = "eventual-ok" => "eventual-ok (neutral)",
        /// Transactions must be strongly consistent across the domain.
        Strong = "strong" => "strong (ACID across the domain)",
    }
}

choice! {
    /// Whether every change must be kept as a reconstructable history.
    pub enum AuditTrail {
        /// No audit requirement (neutral).
        None = "none" => "none (neutral)",
        /// Every change must be kept and replayable.
        Required = "required" => "required (every change kept and replayable)",
    }
}

choice! {
    /// The shape of the load over time.
    pub enum Workload {
        /// Roughly constant (neutral).
        Steady = "steady" => "steady (neutral)",
        /// Sudden peaks many times the baseline.
        Bursty = "bursty" => "bursty (sudden peaks)",
        /// Mostly idle with occasional spikes.
        SpikyIdle = "spiky-idle" => "spiky-idle (mostly idle, occasional spikes)",
    }
}

choice! {
    /// How data moves through the system.
    pub enum DataFlow {
        /// Requests and responses (neutral).
        RequestResponse = "request-response" => "request-response (neutral)",
        /// Continuous streams of events.
        Streaming = "streaming" => "streaming (continuous events)",
        /// Scheduled batches.
        Batch = "batch" => "batch (scheduled jobs)",
    }
}

choice! {
    /// Whether others extend the product with plugins.
    pub enum Extensibility {
        /// A fixed feature set (neutral).
        Fixed = "fixed" => "fixed (neutral)",
        /// Third parties add features through plugins.
        Plugins = "plugins" => "plugins (third parties extend it)",
    }
}
