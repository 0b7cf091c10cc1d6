; 16-bit addressing in real mode: [bx+si+disp], [bp+di+disp] (BP-based
; forms default to SS), 16-bit wrap-around of the effective address, and a
; 67h-prefixed 32-bit form. SDM Vol. 2A, 2.1.5 (Table 2-1), LEA.
; mode: real
; expect: rax=0x130 rcx=0xfff rdx=0xf0 ss=0x2000
; expect-mem: 0x21002 = 55 55
; expect-mem: 0x102 = 66 66
; expect-mem: 0x180 = 77 77
; expect-exit: hlt
bits 16
org 0x7c00
  mov ax, 0x2000
  mov ss, ax
  mov bx, 0x100
  mov si, 0x20
  mov di, 0x3
  mov bp, 0x1000
  lea ax, [bx+si+0x10]
  lea cx, [bp+di-4]
  lea dx, [word bx+0xfff0]     ; disp16: wraps to 0x00f0
  mov word [bp+2], 0x5555      ; SS:0x1002
  mov word [bx+2], 0x6666      ; DS:0x102
  mov word [ebx+esi*4], 0x7777 ; DS:0x180
  hlt
