package org.mlci

import com.cloudbees.groovy.cps.NonCPS

/**
 * The one way a value reaches a shell: every word is single-quoted ('...' with ' written as '"'"'),
 * so quotes, $(), backticks, ;, &&, newlines and globs stay one literal argument.
 * Options are built as one word `--flag=value`, so a value starting with '-' is never read as an option.
 */
class Shell implements Serializable {
    private static final long serialVersionUID = 1L

    /** One shell word holding exactly {@code value}. */
    @NonCPS
    static String quote(Object value) {
        return "'" + String.valueOf(value).replace("'", "'\"'\"'") + "'"
    }

    /** The words quoted and joined with spaces. */
    @NonCPS
    static String command(List words) {
        List quoted = []
        for (Object word : words) {
            quoted.add(quote(word))
        }
        return quoted.join(' ')
    }

    /**
     * CLI arguments from fixed command words and an ordered map of options:
     * null or false leaves an option out, true gives the bare flag, a list repeats the flag,
     * anything else gives one word {@code --flag=value}.
     */
    @NonCPS
    static List args(List command, Map options) {
        List words = new ArrayList(command)
        for (Map.Entry option : options.entrySet()) {
            Object value = option.value
            if (value == null || value == false || value == '') {
                continue
            }
            if (value == true) {
                words.add(option.key)
            } else if (value instanceof List) {
                for (Object item : (List) value) {
                    words.add("${option.key}=${item}".toString())
                }
            } else {
                words.add("${option.key}=${value}".toString())
            }
        }
        return words
    }

    /** withEnv entries ("NAME=value") for the values that are set; values travel as data, never as shell text. */
    @NonCPS
    static List env(Map values) {
        List entries = []
        for (Map.Entry entry : values.entrySet()) {
            if (entry.value != null) {
                entries.add("${entry.key}=${entry.value}".toString())
            }
        }
        return entries
    }
}
