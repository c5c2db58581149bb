import ArgumentParser
import Unmask

/// How `generate` and `compare` spell the steering settings: the class, the classifier,
/// the reward and its timeout. What they mean and how they are checked is the library's
/// (`GenerationSettings`).
struct SteeringOptions: ParsableArguments {
    @Option(name: .customLong("class"), help: "Class to steer to: cbg's class, and the classifier reward's default (e.g. emma).")
    var className: String?
    @Option(help: "Classifier directory (default: the bundled models/classifier).") var classifier: String?
    @Option(help: "Reward for tilt, bon, smc and svdd; kinds below.") var reward: String?
    @Option(parsing: .unconditional, help: "Seconds a reward command may take per call before it is killed (default 30).")
    var rewardTimeout = 30.0

    /// Checked when the flags are read, before any model is opened.
    func validate() throws {
        do { try GenerationSettings.checkRewardTimeout(rewardTimeout) } catch let e as SettingError {
            throw ValidationError(e.message(spelling: SettingError.commandLine))
        }
    }

    /// These flags, into the settings.
    func apply(to settings: inout GenerationSettings) {
        settings.className = className
        settings.classifier = classifier
        settings.reward = reward
        settings.rewardTimeout = rewardTimeout
    }

    static let help = SteeringSpec.helpText + "\n\n" + RewardSpec.helpText
}
