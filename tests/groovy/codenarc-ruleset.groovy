// CodeNarc rules for the Jenkins library (run by tests/groovy/lint.sh with the jars of npm-groovy-lint@16).
// The jenkins rules check CPS safety (serializable classes, parameters and expressions; no CPS calls from
// @NonCPS methods; no closures in GStrings); by default they apply to files named Jenkinsfile only.
String files = '*.groovy,Jenkinsfile*'
ruleset {
    ruleset('rulesets/jenkins.xml') {
        'ClassNotSerializable' { applyToFileNames = files }
        'ClosureInGString' { applyToFileNames = files }
        'CpsCallFromNonCpsMethod' { applyToFileNames = files }
        'ExpressionInCpsMethodNotSerializable' { applyToFileNames = files }
        'ForbiddenCallInCpsMethod' { applyToFileNames = files }
        'ObjectOverrideOnlyNonCpsMethods' { applyToFileNames = files }
        'ParameterOrReturnTypeNotSerializable' { applyToFileNames = files }
    }
    ruleset('rulesets/basic.xml')
    ruleset('rulesets/imports.xml') {
        // Jenkins auto-imports NonCPS in scripts, but src/ classes import it explicitly, which is fine.
        exclude 'NoWildcardImports'
    }
    ruleset('rulesets/unused.xml') {
        // `@Library('mlci') _`: the underscore is Jenkins' idiom
        'UnusedVariable' { ignoreVariableNames = '_' }
    }
    ruleset('rulesets/exceptions.xml') {
        // mlciReport catches Exception on purpose: a report never fails the build.
        exclude 'CatchException'
    }
}
