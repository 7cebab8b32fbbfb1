/* A tiny Java class measured by the JaCoCo agent for the coverage samples:
   some lines and branches are exercised by GradesMain, some on purpose not. */
package samples;

public class Grades {
    public static String letter(int score) {
        if (score < 0 || score > 100) {
            throw new IllegalArgumentException("score out of range: " + score);
        }
        if (score >= 90) {
            return "A";
        } else if (score >= 75) {
            return "B";
        } else if (score >= 50) {
            return "C";
        }
        return "F";
    }

    public static double mean(int[] scores) {
        if (scores.length == 0) {
            return 0.0;
        }
        long sum = 0;
        for (int s : scores) {
            sum += s;
        }
        return (double) sum / scores.length;
    }

    static int neverCalled(int n) {
        int total = 0;
        for (int i = 0; i < n; i++) {
            total += i;
        }
        return total;
    }
}
