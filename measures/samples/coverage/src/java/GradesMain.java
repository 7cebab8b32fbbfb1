package samples;

public class GradesMain {
    public static void main(String[] args) {
        System.out.println(Grades.letter(95) + Grades.letter(80) + Grades.letter(10));
        System.out.println(Grades.mean(new int[] {60, 70, 80}));
    }
}
